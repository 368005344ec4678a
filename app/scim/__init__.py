"""SCIM 2.0 (RFC 7643 / RFC 7644) over the identity store: ``/scim/v2/Users`` and discovery.

``config`` parses the ``scim`` settings, ``schema`` maps SCIM resources to and
from store users, ``filter`` and ``patch`` implement the protocol's small
languages, ``errors`` the error responses, ``views`` the HTTP endpoints.
Everything but ``views`` is framework-free.
"""
