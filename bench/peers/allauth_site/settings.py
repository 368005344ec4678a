"""A Django site with django-allauth signing people in (and up, automatically) at the development provider.

Read from the environment: PEER_DATABASE (the SQLite file), PEER_ISSUER (the
provider), PEER_CLIENT_ID and PEER_CLIENT_SECRET. What allauth's documentation
asks for an OpenID Connect login without any form of its own: log in on GET,
sign up automatically, no e-mail verification, PKCE, userinfo fetched.
"""

import os

SECRET_KEY = "bench-only-secret-key-0123456789-not-for-anything-else"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "allauth_site.urls"
WSGI_APPLICATION = "allauth_site.wsgi.application"
USE_TZ = True
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("PEER_DATABASE", "peer.db")}}
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
LOGIN_URL = "/accounts/oidc/devop/login/"
SOCIALACCOUNT_LOGIN_ON_GET = True
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": "devop",
                "name": "Development provider",
                "client_id": os.environ.get("PEER_CLIENT_ID", "stepgate"),
                "secret": os.environ.get("PEER_CLIENT_SECRET", "bench-client-secret"),
                "settings": {
                    "server_url": os.environ.get("PEER_ISSUER", "http://127.0.0.1:9000"),
                    "fetch_userinfo": True,
                    "token_auth_method": "client_secret_basic",
                },
            }
        ],
    }
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
