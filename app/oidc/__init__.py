"""OpenID Connect relying party: provider settings, discovery, tokens, keys.

``providers`` parses the ``identity_providers`` settings; ``client`` is a thin,
Flask-free wrapper over Authlib (authorization URL with state, nonce and PKCE,
code exchange, userinfo); ``id_token`` applies every ID token rule of OpenID
Connect Core 3.1.3.7 and ``authorization_response`` the callback's (state,
RFC 9207 ``iss``, error, code); ``documents`` keeps discovery
documents and JWKS in the database so every process shares them; ``errors``
maps what can go wrong to stable reason codes.
"""
