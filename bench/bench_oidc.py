"""Benchmark the OpenID Connect client's hot paths against the loopback test provider.

    .venv/bin/python bench/bench_oidc.py [--tokens 300] [--exchanges 200] [--rounds 20]

1. ID token validation with the process's imported key set (what stepgate does)
   against re-importing the JWKS for every token.
2. The code exchange over the client's kept connection against a new
   connection per exchange. This runs over plain HTTP on loopback; over TLS a
   new connection costs far more.
3. CPU (``time.thread_time``, the calling thread only: not the provider's
   threads) per code exchange + userinfo call, the two calls a sign-in makes:
   stepgate's transport (``app/oidc/transport.py``, ``http.client``) against
   the ``requests``-based way the client used before (an Authlib
   ``OAuth2Session`` set up as it was: ``trust_env`` off, proxies and CA bundle
   read once). Both run in the same process, alternating in ``--rounds``
   rounds, so they share the machine's noise; the figure is the median of the
   rounds' means.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import statistics
import sys
import time
from pathlib import Path

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.oidc.client import OIDCClient  # noqa: E402
from app.oidc.providers import IdentityProvider  # noqa: E402
from app.oidc.transport import Transport  # noqa: E402
from tests.rogue_op import SUBJECT, RogueProvider  # noqa: E402

REDIRECT_URI = "http://127.0.0.1/cb"
VERIFIER = "v" * 64


class MemoryDocuments:
    def __init__(self):
        self.docs = {}

    def get(self, issuer, kind, *, reread=False):
        return self.docs.get((issuer, kind))

    def put(self, issuer, kind, body):
        self.docs[(issuer, kind)] = (body, time.time())

    def fresh(self, fetched_at, ttl):
        return True


def timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{name:58} median {statistics.median(samples):7.3f} ms   p95 {p95:7.3f} ms   n={len(samples)}")


def requests_baseline(client: OIDCClient):
    """Code exchange + userinfo the way app/oidc/client.py did before its transport: an Authlib requests session."""
    provider = client.provider
    session = OAuth2Session(
        provider.client_id,
        provider.client_secret,
        token_endpoint_auth_method=provider.token_endpoint_auth_method,
        code_challenge_method="S256",
        default_timeout=provider.timeout,
    )
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(provider.issuer)
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    def exchange_and_userinfo(code: str) -> None:
        metadata = client.metadata()
        token = session.fetch_token(
            metadata["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=VERIFIER,
            redirect_uri=REDIRECT_URI,
        )
        response = session.get(
            metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
            withhold_token=True,
        )
        response.raise_for_status()
        assert response.json()["sub"] == SUBJECT

    return exchange_and_userinfo


def cpu_per_call(fn, new_code, n: int) -> float:
    """Mean CPU of this thread per call of ``fn(code)``, in microseconds."""
    codes = [new_code() for _ in range(n)]
    start = time.thread_time()
    for code in codes:
        fn(code)
    return (time.thread_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--exchanges", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20, help="alternating rounds of the CPU comparison")
    parser.add_argument("--per-round", type=int, default=50, help="exchange + userinfo pairs per round and way")
    args = parser.parse_args()
    op = RogueProvider().start()
    try:
        provider = IdentityProvider("bench", op.issuer, op.client_id, op.client_secret)
        client = OIDCClient(provider, MemoryDocuments())
        token = {"id_token": op.id_token({"nonce": "n"}), "access_token": "a"}
        client.validate_id_token(token, "n")  # warm: discovery and keys fetched once
        jwks = client.jwks()
        report(
            "validate ID token, cached key set (stepgate)",
            timed(lambda: client.validate_id_token(token, "n"), args.tokens),
        )
        registry = JWSRegistry(algorithms=["RS256"])
        report(
            "decode ID token, JWKS re-imported per token",
            timed(lambda: jwt.decode(token["id_token"], KeySet.import_key_set(jwks), registry=registry), args.tokens),
        )

        def new_code() -> str:
            code = secrets.token_urlsafe(16)
            op.codes[code] = {"nonce": "n"}
            return code

        def exchange_kept():
            client.exchange(new_code(), REDIRECT_URI, VERIFIER)

        def exchange_new_connection():
            fresh = OIDCClient(provider, client.documents, Transport(provider.timeout))
            fresh.exchange(new_code(), REDIRECT_URI, VERIFIER)
            fresh.http.close()

        report("code exchange, kept connection (stepgate)", timed(exchange_kept, args.exchanges))
        report("code exchange, new connection each time", timed(exchange_new_connection, args.exchanges))

        def stepgate(code: str) -> None:
            tokens = client.exchange(code, REDIRECT_URI, VERIFIER)
            client.userinfo(tokens["access_token"], SUBJECT)

        baseline = requests_baseline(client)
        for fn in (stepgate, baseline):  # warm both: connections, imports
            fn(new_code())
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(cpu_per_call(stepgate, new_code, args.per_round))
            theirs.append(cpu_per_call(baseline, new_code, args.per_round))
        mine, old = statistics.median(ours), statistics.median(theirs)
        pairs = f"{args.rounds} rounds x {args.per_round}"
        print(f"CPU per code exchange + userinfo, this thread, median of {pairs} (min..max of the round means):")
        print(f"  stepgate transport (http.client)    {mine:7.0f} us   ({min(ours):.0f}..{max(ours):.0f})")
        print(f"  requests + Authlib OAuth2Session    {old:7.0f} us   ({min(theirs):.0f}..{max(theirs):.0f})")
        print(f"  saved per sign-in                   {old - mine:7.0f} us   ({old / mine:.1f}x less CPU)")
        print(f"command: {shlex.join(['.venv/bin/python', 'bench/bench_oidc.py', *sys.argv[1:]])}")
    finally:
        op.stop()


if __name__ == "__main__":
    main()
