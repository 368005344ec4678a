"""The built-in authentication plugins, one class per module, by OAM name.

Third-party plugins join through the ``stepgate.plugins`` entry point group.
"""

from plugins.consent import ConsentPlugin
from plugins.credential_collector import CredentialCollectorPlugin
from plugins.email_otp import EmailOTPPlugin
from plugins.identifier_first import IdentifierFirstPlugin
from plugins.oauth_user_self_registration import OAuthUserSelfRegistrationPlugin
from plugins.openid_connect import OpenIDConnectPlugin
from plugins.session_identification import SessionIdentificationPlugin
from plugins.totp import TOTPPlugin
from plugins.user_authentication import UserAuthenticationPlugin
from plugins.user_identification import UserIdentificationPlugin
from plugins.user_name_prompt import UserNamePromptPlugin

ALL = [CredentialCollectorPlugin, UserIdentificationPlugin, UserAuthenticationPlugin]
ALL += [OpenIDConnectPlugin, OAuthUserSelfRegistrationPlugin]
ALL += [IdentifierFirstPlugin, SessionIdentificationPlugin]
ALL += [ConsentPlugin, UserNamePromptPlugin]
ALL += [TOTPPlugin, EmailOTPPlugin]
