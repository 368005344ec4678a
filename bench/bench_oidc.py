"""Benchmark the OpenID Connect client's hot paths against the loopback test provider.

    .venv/bin/python bench/bench_oidc.py [--tokens 300] [--exchanges 200]

1. ID token validation with the process's imported key set (what stepgate does)
   against re-importing the JWKS for every token.
2. The code exchange over the provider's shared connection pool against a fresh
   requests session (new TCP connection) per exchange. This runs over plain
   HTTP on loopback; over TLS a new connection costs far more.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.oidc.client import OIDCClient  # noqa: E402
from app.oidc.providers import IdentityProvider  # noqa: E402
from tests.rogue_op import RogueProvider  # noqa: E402


class MemoryDocuments:
    def __init__(self):
        self.docs = {}

    def get(self, issuer, kind):
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--exchanges", type=int, default=200)
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

        def exchange_shared():
            client.exchange(new_code(), "http://127.0.0.1/cb", "v" * 64)

        def exchange_fresh():
            with requests.Session() as session:
                session.post(
                    f"{op.issuer}/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": new_code(),
                        "redirect_uri": "http://127.0.0.1/cb",
                    },
                    auth=(op.client_id, op.client_secret),
                    timeout=5,
                ).raise_for_status()

        report("code exchange, shared connection pool (stepgate)", timed(exchange_shared, args.exchanges))
        report("code exchange, fresh session (new connection) each time", timed(exchange_fresh, args.exchanges))
    finally:
        op.stop()


if __name__ == "__main__":
    main()
