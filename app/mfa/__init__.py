"""Second factors: TOTP (RFC 6238) with recovery codes, and one-time codes sent by e-mail.

``rfc6238`` is the algorithm alone (framework-free); ``factors`` stores a
user's TOTP secret (an ``{AES}`` box) and recovery codes (hashed);
``email_codes`` the codes sent by mail; ``attempts`` makes every code check a
throttled attempt counted toward the account lockout of password sign-ins;
``smtp`` reads the ``smtp:`` settings block and sends mail. The plugins
(``plugins/totp.py``, ``plugins/email_otp.py``) call these; the engine knows
none of it.
"""
