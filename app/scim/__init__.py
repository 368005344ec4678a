"""SCIM 2.0 (RFC 7643 / RFC 7644) over the identity store: ``/scim/v2`` Users, Groups and discovery.

``config`` parses the ``scim`` settings; ``attributes`` declares the schema
(published at ``/Schemas`` and enforced by ``validate``); ``schema`` maps User
resources to and from store users, ``groups`` and ``models`` keep groups and
SCIM documents; ``filter`` parses filters and ``query`` turns them into indexed
SQL. ``users`` serves the SQL store; ``store_users`` serves any other kind (an
LDAP directory) through the store interface, with ``directory_query`` turning
filters into escaped RFC 4515 filters. ``patch``, ``selection`` and ``etag``
are PATCH, attribute selection and versions; ``membership`` answers policies'
group checks; ``errors`` are the error bodies. ``views``, ``group_views`` and ``search_views`` are the HTTP
endpoints; everything else is framework-free. docs/scim.md is the reference.
"""
