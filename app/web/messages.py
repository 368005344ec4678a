"""What a person reads for each reason code.

Reason codes are stable strings shared by logs, audit and metrics; the text is
for people. Unknown user and wrong password read the same, on purpose.
"""

MESSAGES: dict[str, str] = {
    "credentials.missing": "Enter your user name and password.",
    "credentials.invalid": "The user name or password is incorrect.",
    "user.not_found": "The user name or password is incorrect.",
    "user.ambiguous": "More than one account matches; contact your administrator.",
    "user.locked": "This account is locked. Contact your administrator.",
    "user.disabled": "This account is disabled. Contact your administrator.",
    "user.no_password": "This account can't sign in with a password. Use the sign-in method it was created with.",
    "flow.retry_limit_reached": "Too many failed attempts. Start again from the page you wanted to open.",
    "flow.expired": "This sign-in has expired or was started in another browser. Start again from your page.",
    "flow.no_user_identified": "The sign-in finished without identifying a user; the scheme is misconfigured.",
    "flow.transition_limit": "The sign-in went round in circles; the scheme is misconfigured.",
    "flow.scheme_changed": "The sign-in scheme was replaced while you were signing in. Start again.",
    "plugin.exception": "Something went wrong on our side. Try again later.",
    "form.csrf": "The form expired or did not come from this site. Go back and try again.",
    "redirect.not_allowed": "That return address is not a resource protected by this server.",
    "authn.required": "Sign in to open this page.",
    "authn.level_too_low": "This page needs a stronger sign-in than the one you used.",
    "forward_auth.untrusted_proxy": "Only a configured reverse proxy may ask about access.",
    "forward_auth.no_original_url": "The reverse proxy did not say which URL it is asking about.",
    "forward_auth.no_resource": "This address is not a resource protected by this server.",
}

DEFAULT = "Sign-in could not be completed."


def message_for(reason: str | None) -> str:
    return MESSAGES.get(reason or "", DEFAULT)
