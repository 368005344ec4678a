"""django-allauth as a benchmark peer: auto sign-up through OpenID Connect, SQLite (bench/peers/allauth.py runs it)."""
