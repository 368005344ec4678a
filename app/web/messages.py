"""What a person reads for each reason code.

Reason codes are stable strings shared by logs, audit and metrics; the text is
for people. Unknown user and wrong password read the same, on purpose, and so does every
other refusal given before the password is proven (``CONCEALED``).
"""

MESSAGES: dict[str, str] = {
    "credentials.missing": "Enter your user name and password.",
    "credentials.invalid": "The user name or password is incorrect.",
    "user.locked": "This account is locked. Contact your administrator.",
    "user.disabled": "This account is disabled. Contact your administrator.",
    "user.no_password": "This account can't sign in with a password. Use the sign-in method it was created with.",
    "password.expired": "Your password has expired. Change it with your organisation's password service, then sign in.",
    "password.must_change": "Your password was reset and must be changed before you sign in. "
    "Change it with your organisation's password service.",
    "store.unavailable": "The directory that holds accounts does not answer. Try again in a moment.",
    "flow.retry_limit_reached": "Too many failed attempts. Start again from the page you wanted to open.",
    "flow.expired": "This sign-in has expired or was started in another browser. Start again from your page.",
    "flow.no_user_identified": "The sign-in finished without identifying a user; the scheme is misconfigured.",
    "flow.transition_limit": "The sign-in went round in circles; the scheme is misconfigured.",
    "flow.scheme_changed": "The sign-in scheme was replaced while you were signing in. Start again.",
    "plugin.exception": "Something went wrong on our side. Try again later.",
    "login_page.misconfigured": "The sign-in page is not available; the scheme is misconfigured.",
    "request.bad_parameter": "The address carries a value this page can't use.",
    "request.target_too_long": "This address is too long to sign in for.",
    "request.too_large": "What was sent is larger than this server accepts.",
    # HTTP errors nothing else answered (app/web/errors.py)
    "page.not_found": "There is no page at this address. Check the address, or start again from the start page.",
    "request.method_not_allowed": "This page can't be used that way. Go back and use the page's own links and forms.",
    "server.error": "Something went wrong on our side. It has been logged; try again later.",
    "request.refused": "This request can't be answered. Go back and try again.",
    "database.unavailable": "This service is briefly unavailable: its database is not answering. Try again shortly.",
    "redis.unavailable": "This service is briefly unavailable. Try again shortly.",
    "form.csrf": "The form expired or did not come from this site. Go back and try again.",
    "request.bad_host": "This server does not answer for that host name.",
    "redirect.not_allowed": "That return address is not a resource protected by this server.",
    "authn.required": "Sign in to open this page.",
    "authn.level_too_low": "This page needs a stronger sign-in than the one you used.",
    "authn.methods_missing": "This page needs a second factor, and this sign-in did not provide one.",
    "authz.not_in_group": "Your account is not in a group this page requires. Ask your administrator.",
    "forward_auth.untrusted_proxy": "Only a configured reverse proxy may ask about access.",
    "forward_auth.no_original_url": "The reverse proxy did not say which URL it is asking about.",
    "forward_auth.no_resource": "This address is not a resource protected by this server.",
    # request paths that cannot be judged safely (app/urlpath.py, docs/path-normalisation.md)
    "path.not_absolute": "This address is not a valid path.",
    "path.too_long": "This address is too long.",
    "path.control_character": "This address contains a control character.",
    "path.backslash": "This address contains a backslash; use '/' between path segments.",
    "path.fragment": "This address contains a raw '#'.",
    "path.bad_percent_encoding": "This address contains a broken percent-encoding.",
    "path.encoded_slash": "This address contains an encoded '/' (%2F), which servers read differently.",
    "path.double_encoding": "This address contains an encoded '%' (%25): double encoding is refused.",
    "path.encoded_delimiter": "This address contains an encoded ';', '?' or '#', which servers read differently.",
    "path.bad_utf8": "This address does not decode to valid UTF-8.",
    "path.unicode_compatibility": "This address contains look-alike characters (such as fullwidth dots).",
    "path.above_root": "This address climbs above the site's root with '..'.",
    "path.dot_segment": "This address uses '..' to leave the area it names; open the page it leads to instead.",
    "path.ambiguous_dot_segment": "This address has a '..' after an empty segment, which servers read differently.",
    "path.trailing_dot_or_space": "A segment of this address ends with a dot or a space.",
    "path.alternate_data_stream": "This address names an NTFS data stream ('::$').",
    "path.parameters": "This address has ';' parameters, which this resource does not accept.",
    "path.not_normal": "This address is not in its normal form; open it without '.', '..' or '//' segments.",
    "admin.forbidden": "Your account is not an administrator of this server.",
    "admin.self": "You can't lock or delete your own account from the console.",
    "registration.missing": "The registration page sent you back without your registration. Start again.",
    "registration.unknown": "This registration was not started in this sign-in. Start again from your page.",
    "registration.used": "This registration link has already been used. Start again from your page.",
    "registration.expired": "This registration has expired. Start again from your page.",
    "registration.account_exists": "An account has already been created with this registration.",
    "registration.no_account": "No account was created during registration, so you cannot be signed in.",
    "registration.secret_unavailable": "Registration is not available right now; the server is misconfigured.",
    # OpenID Connect and JIT provisioning
    "oidc.state_mismatch": "This sign-in answer does not belong to your sign-in. Start again from your page.",
    "authorization_response.iss_mismatch": "This sign-in answer came from another identity provider; it was refused.",
    "authorization_response.iss_missing": "This sign-in answer does not say which provider sent it; it was refused.",
    "authorization_response.repeated_parameter": "This sign-in answer repeats a parameter; it was refused.",
    "oidc.unknown_provider": "That sign-in provider is not offered here.",
    "oidc.no_code": "The identity provider answered without signing you in. Start again.",
    "idp.access_denied": "You cancelled the sign-in at your identity provider.",
    "idp.error": "Your identity provider could not sign you in. Start again, or try later.",
    "idp.unreachable": "Your identity provider can't be reached right now. Try again later.",
    "idp.timeout": "Your identity provider did not answer in time. Try again later.",
    "idp.bad_response": "Your identity provider sent an answer we could not use. Try again later.",
    "idp.bad_discovery": "Your identity provider's configuration could not be used. Contact your administrator.",
    "idp.bad_jwks": "Your identity provider's signing keys could not be used. Contact your administrator.",
    "idp.token_refused": "Your identity provider refused to complete the sign-in. Start again.",
    "idp.unavailable": "Your identity provider is unavailable right now. Try again shortly.",
    "idp.busy": "Many sign-ins are waiting on your identity provider right now. Try again in a few seconds.",
    "idp.bad_token_type": "Your identity provider issued a kind of access token this server can't use.",
    "id_token.missing": "Your identity provider did not send an ID token.",
    "id_token.bad_signature": "The sign-in token is not signed by your identity provider; it was refused.",
    "id_token.bad_algorithm": "The sign-in token is unsigned or uses a refused algorithm; it was refused.",
    "id_token.bad_issuer": "The sign-in token was issued by another provider; it was refused.",
    "id_token.bad_audience": "The sign-in token was issued for another application; it was refused.",
    "id_token.bad_nonce": "The sign-in token does not belong to this sign-in; it was refused.",
    "id_token.expired": "The sign-in token has expired. Start again.",
    "id_token.bad_iat": "The sign-in token has an impossible issue time; it was refused.",
    "id_token.not_yet_valid": "The sign-in token is not valid yet; it was refused.",
    "id_token.bad_at_hash": "The sign-in token does not match its access token; it was refused.",
    "id_token.bad_claims": "The sign-in token is missing required information; it was refused.",
    "id_token.bad_type": "The sign-in token is another kind of token, not an ID token; it was refused.",
    "id_token.bad_header": "The sign-in token's header asks for something this server can't do; it was refused.",
    "id_token.duplicate_claims": "The sign-in token states the same thing twice; it was refused.",
    "id_token.untrusted_audience": "The sign-in token was also issued for an application this server doesn't trust.",
    "id_token.bad_azp": "The sign-in token was handed to another application; it was refused.",
    "id_token.too_old": "The sign-in token was issued too long ago. Start again.",
    "id_token.no_nonce": "The sign-in token is not bound to this sign-in; it was refused.",
    "id_token.bad_time_claim": "The sign-in token's times could not be read; it was refused.",
    "id_token.bad_auth_time": "You signed in at your identity provider too long ago. Start again to sign in afresh.",
    "id_token.bad_acr": "Your identity provider did not confirm the sign-in strength this server asks for.",
    "id_token.bad_c_hash": "The sign-in token does not match its authorization code; it was refused.",
    "id_token.malformed": "The sign-in token could not be read; it was refused.",
    "id_token.no_username": "Your identity provider did not send the user name this server needs.",
    "userinfo.sub_mismatch": "Your identity provider described another person; the sign-in was refused.",
    "user.not_linked": "No account here is linked to this sign-in. Contact your administrator.",
    "registration.no_federated_identity": "Account creation needs a sign-in at an identity provider first.",
    "registration.user_name_taken": "An account with this user name already exists. Contact your administrator.",
    "registration.bad_user_name": "Your identity provider sent a user name this server can't use.",
    "registration.password_mismatch": "The two passwords differ. Type the same password twice.",
    "registration.password_policy": "This password does not meet the password policy. Choose a stronger one.",
    # WSO2's JIT prompts (plugins/consent.py, plugins/user_name_prompt.py)
    "consent.declined": "You declined a purpose this site needs, so no account was created and nothing was stored.",
    "consent.no_federated_identity": "Consent is asked after a sign-in at an identity provider.",
    "registration.not_completed": "Your account could not be created. Start again from your page.",
    "user_name.too_many_attempts": "Too many user names were tried. Start again from your page.",
    # which rule of the policy failed (app/password_policy.py); the prompt lists every rule
    "registration.password_too_short": "This password does not meet the password policy: it is too short.",
    "registration.password_no_letter": "This password does not meet the password policy: it has no letter.",
    "registration.password_no_lower": "This password does not meet the password policy: it has no lower-case letter.",
    "registration.password_no_upper": "This password does not meet the password policy: it has no upper-case letter.",
    "registration.password_no_digit": "This password does not meet the password policy: it has no digit.",
    "registration.password_no_symbol": "This password does not meet the password policy: it has no symbol.",
}

# second factors (app/mfa/, plugins/totp.py, plugins/email_otp.py); asked only after the first factor
MESSAGES.update(
    {
        "otp.missing": "Type the code.",
        "otp.invalid": "That code is not right. Check it and try again.",
        "otp.replayed": "That code has already been used. Wait for the next one from your app.",
        "otp.used": "That code has already been used. Start again from your page.",
        "otp.expired": "That code has expired. Ask for a new one.",
        "otp.no_code": "No code was sent for this sign-in. Start again from your page.",
        "otp.too_many_attempts": "Too many wrong codes. Start again from the page you wanted to open.",
        "otp.too_many_sends": "No more codes can be sent for this sign-in; use the last one or start again.",
        "otp.locked_out": "This account is locked for a while after too many failed sign-ins. Try again later.",
        "otp.not_enrolled": "This account has no authenticator app set up. Contact your administrator.",
        "otp.already_enrolled": "An authenticator app was set up for this account meanwhile. Start again.",
        "otp.no_address": "This account has no e-mail address a code can be sent to. Contact your administrator.",
        "otp.unverified_address": "This account's e-mail address is not verified, so no code can be sent to it.",
        "otp.mail_unavailable": "The code could not be sent: the mail server is not answering. Try again later.",
        "otp.master_key_unavailable": "Second factors are not available right now; the server is misconfigured.",
        "otp.no_user_identified": "The sign-in asked for a code before identifying you; the scheme is misconfigured.",
    }
)

DEFAULT = "Sign-in could not be completed."

# -- password sign-ins: no user enumeration (app/password_signin.py) -----------------------------

INCORRECT = "The user name or password is incorrect."
CONCEALED: dict[str, str] = {
    "user.not_found": "No account has this user name.",
    "user.no_password": MESSAGES["user.no_password"],
    "account.locked": MESSAGES["user.locked"],
    "account.disabled": MESSAGES["user.disabled"],
    "account.locked_out": "This account is locked for a while after too many failed sign-ins. Try again later.",
}
"""Refusals given before the password is proven: each reads as INCORRECT unless
``password_signin.reveal_account_state`` is on (intranets), when this text is shown."""

MESSAGES["signin.throttled"] = "Too many sign-in attempts from here or for this account. Wait, then try again."

STATUSES: dict[str, int] = {
    # a peer at fault, not the person: a gateway's codes (RFC 9110 15.6), never 401; and the throttle
    "idp.timeout": 504,
    "idp.unreachable": 502,
    "idp.bad_response": 502,
    "idp.unavailable": 503,  # the circuit breaker is open (app/oidc/breaker.py)
    "idp.busy": 503,  # the bulkhead is full (app/oidc/bulkhead.py)
    "signin.throttled": 429,  # app/throttling.py; Retry-After comes from the flow
    "consent.declined": 403,  # the person said no: refused, not unauthenticated
    "database.unavailable": 503,
    "redis.unavailable": 503,
    "otp.mail_unavailable": 503,  # the mail server of e-mail codes (app/mfa/smtp.py)
    "authn.methods_missing": 403,  # signed in at the provider, but not with the factor the resource requires
}
RETRY_AFTER: dict[str, int] = {"idp.unavailable": 5, "idp.busy": 2, "otp.mail_unavailable": 30}
"""Seconds a browser (or a person) should wait before trying again, sent as ``Retry-After`` with a 503."""


def message_for(reason: str | None) -> str:
    if reason in CONCEALED:
        return CONCEALED[reason] if _reveal() else INCORRECT
    return MESSAGES.get(reason or "", DEFAULT)


def status_for(reason: str | None, default: int = 401) -> int:
    """The HTTP status of a failed sign-in: 401 for a "no", 429 when throttled, 502/503/504 when a peer is at fault."""
    return STATUSES.get(reason or "", default)


def retry_after_for(reason: str | None) -> int | None:
    return RETRY_AFTER.get(reason or "")


def public_reason(reason: str | None) -> str | None:
    """The reason code a page may show: a concealed one reads as ``credentials.invalid``."""
    return "credentials.invalid" if reason in CONCEALED and not _reveal() else reason


def _reveal() -> bool:
    from app.password_signin import current_settings

    return current_settings().reveal_account_state
