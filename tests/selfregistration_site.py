"""A self-registration site for end-to-end tests: stepgate and the example page, each on its own port.

The real OpenIDConnectPlugin lives on another branch, so three test-only
plugins stand in around the real ``app.selfregistration.register`` step, wired
as OAM's Table 42-2:

- ``StandInIdentityProvider`` asks "who are you at the IdP" with a small form
  and puts those claims into the flow as ``federated`` (a person signing in at
  an IdP, minus the protocol);
- ``LinkedUserIdentification`` identifies the user linked to that (issuer,
  subject), as the federated UserIdentificationPlugin will;
- ``RegistrationHandOff`` calls ``register(ctx, registration_url, secret_key)``
  as the OAuthUserSelfRegistrationPlugin will.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response

from app import create_app
from app.engine import FlowContext, Plugin, StepResult
from app.engine.registry import PluginRegistry
from app.engine.scheme import load_schemes
from app.extensions import db
from app.runtime import Runtime
from app.selfregistration import register
from app.settings import load_settings
from app.stores import federation
from examples.registration_page.app import create_app as create_page
from tests.conftest import LiveServer

ISSUER = "https://idp.example.test"
SCIM_TOKEN = "scim-token-for-tests-0123456789"
PAGE_SECRET = "shared-registration-secret"

IDP_FORM = """<!doctype html><title>Stand-in IdP</title>
<form method="get" action="/oam/server/auth_cred_submit" id="idp">
  <input name="sub"><input name="email"><input name="email_verified" value="true">
  <input name="given_name"><input name="family_name">
</form>"""


class StandInIdentityProvider(Plugin):
    name = "StandInIdentityProvider"

    def process(self, ctx: FlowContext) -> StepResult:
        if ctx.submission is None:
            return StepResult.challenge(Response(IDP_FORM, mimetype="text/html"))
        sub = ctx.submission.get("sub")
        if not sub:
            return StepResult.failure("id_token.missing_subject")
        claims = {"iss": ISSUER, "sub": sub, "email_verified": ctx.submission.get("email_verified") == "true"}
        for name in ("email", "given_name", "family_name"):
            if ctx.submission.get(name):
                claims[name] = ctx.submission.get(name)
        ctx.data["federated"] = {"provider": "standin", "issuer": ISSUER, "subject": sub, "claims": claims}
        return StepResult.success()


class LinkedUserIdentification(Plugin):
    name = "LinkedUserIdentification"

    def process(self, ctx: FlowContext) -> StepResult:
        ctx.user_id = None
        federated = ctx.data.get("federated") or {}
        user = federation.find_linked_user(federated.get("issuer", ""), federated.get("subject", ""))
        if user is None or not user.active:
            return StepResult.failure("user.not_found")
        ctx.user_id = user.id
        return StepResult.success(detail={"user_name": user.user_name})


@dataclass(frozen=True)
class RegistrationParams:
    registration_url: str
    secret_key: str


class RegistrationHandOff(Plugin):
    name = "RegistrationHandOff"
    Params = RegistrationParams

    def process(self, ctx: FlowContext) -> StepResult:
        return register(ctx, self.params.registration_url, self.params.secret_key)


SCHEME = """
name: UserSelfRegistrationScheme
level: 1
challenge_parameters: {{initial_command: NONE}}
module:
  name: UserSelfRegistration
  steps:
    OpenID_Connect: {{plugin: StandInIdentityProvider}}
    User_Identification1: {{plugin: LinkedUserIdentification}}
    OAuth_Self_Registration:
      plugin: RegistrationHandOff
      params: {{registration_url: "{url}", secret_key: "{secret}"}}
    User_Identification2: {{plugin: LinkedUserIdentification}}
  orchestration:
    initial_step: OpenID_Connect
    OpenID_Connect: {{on_success: User_Identification1, on_failure: failure, on_error: failure}}
    User_Identification1: {{on_success: success, on_failure: OAuth_Self_Registration, on_error: failure}}
    OAuth_Self_Registration: {{on_success: User_Identification2, on_failure: failure, on_error: failure}}
    User_Identification2: {{on_success: success, on_failure: failure, on_error: failure}}
"""

DOMAIN = {
    "Demo": {
        "authentication_policies": {
            "Public Resource Policy": {"public": True},
            "Protected Resource Policy": {"scheme": "UserSelfRegistrationScheme"},
        },
        "resources": [
            {"url": "/", "policy": "Public Resource Policy"},
            {"url": "/demo/**", "policy": "Protected Resource Policy"},
        ],
    }
}


@dataclass
class Site:
    app: object
    stepgate: LiveServer
    page_app: object
    page: LiveServer

    def stop(self) -> None:
        self.page.stop()
        self.stepgate.stop()


def start_site(make_settings, scheme_secret: str = PAGE_SECRET, page_secret: str = PAGE_SECRET) -> Site:
    """The example page and stepgate on two free loopback ports, each knowing the other."""
    page_app = create_page(
        {"REGISTRATION_SECRET_KEY": page_secret, "SCIM_TOKEN": SCIM_TOKEN, "PAGE_SECRET_KEY": "page-secret-0123456789"}
    )
    page = LiveServer(page_app)
    path = make_settings(
        extra={"application_domains": DOMAIN, "scim": {"tokens": [SCIM_TOKEN]}},
        schemes={"UserSelfRegistrationScheme.yaml": SCHEME.format(url=f"{page.url}/register", secret=scheme_secret)},
    )
    settings = load_settings(path)
    registry = PluginRegistry.discover()
    for plugin in (StandInIdentityProvider, LinkedUserIdentification, RegistrationHandOff):
        registry.register(plugin)
    runtime = Runtime(settings, registry, load_schemes(settings.schemes_dir, registry, settings))
    app = create_app(path, testing=True, runtime=runtime)
    with app.app_context():
        db.create_all()
    stepgate = LiveServer(app)
    page_app.config.update(STEPGATE_URL=stepgate.url, STEPGATE_PUBLIC_URL=stepgate.url)
    return Site(app, stepgate.start(), page_app, page.start())
