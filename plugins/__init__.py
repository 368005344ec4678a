"""The built-in authentication plugins, one class per module, by OAM name.

Third-party plugins join through the ``stepgate.plugins`` entry point group.
"""

from plugins.credential_collector import CredentialCollectorPlugin
from plugins.user_authentication import UserAuthenticationPlugin
from plugins.user_identification import UserIdentificationPlugin

ALL = [CredentialCollectorPlugin, UserIdentificationPlugin, UserAuthenticationPlugin]
