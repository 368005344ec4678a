"""OpenID Connect relying party: provider settings, discovery, tokens, keys.

``providers`` parses the ``identity_providers`` settings; ``client`` is a thin,
Flask-free wrapper over Authlib (authorization URL with state, nonce and PKCE,
code exchange, ID token validation, userinfo); ``documents`` keeps discovery
documents and JWKS in the database so every process shares them; ``errors``
maps what can go wrong to stable reason codes.
"""
