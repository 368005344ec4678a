"""The circuit breaker (app/oidc/breaker.py) and the bulkhead (app/oidc/bulkhead.py), on their own."""

from __future__ import annotations

import threading

import pytest

from app.oidc import breaker as breakers
from app.oidc import bulkhead as bulkheads
from app.oidc.breaker import CircuitBreaker, State


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def heard():
    changes: list[tuple[str, State]] = []
    listener = breakers.on_transition(lambda name, state: changes.append((name, state)))
    yield changes
    breakers._listeners.remove(listener)


def test_the_breaker_opens_after_the_configured_consecutive_failures_only(clock, heard):
    breaker = CircuitBreaker("corp", failures=3, cooldown=5, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.failed("read timed out")
    breaker.succeeded()  # an answer resets the count
    for _ in range(2):
        breaker.failed("read timed out")
    assert breaker.state is State.CLOSED and breaker.allow()
    breaker.failed("read timed out")
    assert breaker.state is State.OPEN and heard == [("corp", State.OPEN)]


def test_an_open_breaker_refuses_until_the_cool_down_then_lets_one_probe_through(clock, heard):
    breaker = CircuitBreaker("corp", failures=1, cooldown=5, clock=clock)
    breaker.failed()
    clock.now += 4.9
    assert not breaker.allow() and 0 < breaker.retry_after() <= 0.1 + 1e-9
    clock.now += 0.1
    assert breaker.allow(), "the probe"
    assert breaker.state is State.HALF_OPEN
    assert not breaker.allow() and not breaker.allow(), "the others wait for the probe's answer"
    breaker.succeeded()
    assert breaker.state is State.CLOSED and breaker.allow() and breaker.allow()
    assert heard == [("corp", State.OPEN), ("corp", State.HALF_OPEN), ("corp", State.CLOSED)]


def test_asking_whether_a_breaker_refuses_takes_no_probe_slot(clock):
    """The plugin asks before sending a browser to the provider; asking must not use up the probe."""
    breaker = CircuitBreaker("corp", failures=1, cooldown=5, clock=clock)
    assert not breaker.refusing()
    breaker.failed("connection refused")
    assert breaker.refusing()
    clock.now += 5
    assert not breaker.refusing() and not breaker.refusing()
    assert breaker.allow(), "the probe is still there for the first real call"
    assert not breaker.allow()


def test_a_failed_probe_opens_the_breaker_for_another_cool_down(clock):
    breaker = CircuitBreaker("corp", failures=2, cooldown=5, clock=clock)
    breaker.failed()
    breaker.failed()
    clock.now += 5
    assert breaker.allow()
    breaker.failed("connect timed out")
    assert breaker.state is State.OPEN
    clock.now += 4
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_a_probe_that_ends_without_an_answer_frees_the_next_probe(clock):
    breaker = CircuitBreaker("corp", failures=1, cooldown=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()
    breaker.abandoned()
    assert breaker.allow() and breaker.state is State.HALF_OPEN


def test_a_probe_that_never_reports_is_replaced_after_a_cool_down(clock):
    breaker = CircuitBreaker("corp", failures=1, cooldown=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()
    clock.now += 4
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_the_bulkhead_refuses_at_once_when_its_calls_out_are_old_and_tells_its_listeners():
    clock = Clock()
    refused: list[str] = []
    listener = bulkheads.on_rejection(refused.append)
    try:
        bulkhead = bulkheads.Bulkhead(2, patience=0.1, clock=clock)
        entered = threading.Barrier(3)

        def hold():
            assert bulkhead.try_enter("corp")
            entered.wait()
            done.wait(5)
            bulkhead.leave()

        done = threading.Event()
        holders = [threading.Thread(target=hold) for _ in range(2)]
        for holder in holders:
            holder.start()
        entered.wait()
        clock.now += 1  # the calls out have waited a second: the provider is slow
        assert bulkhead.out() == 2
        assert not bulkhead.try_enter("corp")
        assert refused == ["corp"]
        done.set()
        for holder in holders:
            holder.join()
        assert bulkhead.try_enter("corp"), "slots come back when calls end"
        bulkhead.leave()
    finally:
        bulkheads._listeners.remove(listener)


def test_the_bulkhead_lets_a_burst_wait_briefly_for_young_calls():
    bulkhead = bulkheads.Bulkhead(1, patience=2)
    assert bulkhead.try_enter()
    threading.Timer(0.05, bulkhead.leave).start()  # the call out ends in 50 ms: a healthy provider
    assert bulkhead.try_enter(), "waited for the slot instead of refusing"
    bulkhead.leave()


def test_providers_with_the_same_limit_share_one_bulkhead_per_process():
    assert bulkheads.shared(3) is bulkheads.shared(3)
    assert bulkheads.shared(3) is not bulkheads.shared(4)


def test_isolation_settings_have_safe_defaults_and_bad_values_are_reported_with_their_line(make_settings):
    from app.settings import load_settings
    from app.yamlsource import ConfigError

    provider = {"issuer": "http://127.0.0.1:9", "client_id": "stepgate", "client_secret": "unused"}
    [shipped] = load_settings(
        make_settings(extra={"identity_providers": {"corp": provider}})
    ).identity_providers.values()
    assert (shipped.connect_timeout, shipped.read_timeout, shipped.total_timeout) == (3.0, 10.0, 15.0)
    assert (shipped.breaker_failures, shipped.breaker_cooldown_seconds, shipped.max_concurrent_calls) == (3, 5.0, 2)

    bad = {**provider, "total_timeout": 0, "breaker_failures": 1.5, "breaker_cooldown_seconds": "soon"}
    path = make_settings(extra={"identity_providers": {"corp": bad}, "max_concurrent_provider_calls": 0})
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    messages = sorted(f"{p.line}: {p.message}" for p in raised.value.problems)
    assert sorted(m.split(": ", 1)[1] for m in messages) == sorted(
        [
            "'max_concurrent_provider_calls' must be a whole number >= 1",
            "'total_timeout' must be a number >= 0.01",
            "'breaker_cooldown_seconds' must be a number >= 0.01",
            "'breaker_failures' must be a whole number >= 1",
        ]
    )
    assert all(int(m.split(":")[0]) > 1 for m in messages), messages


def test_breaker_changes_and_bulkhead_refusals_are_counted_for_prometheus():
    from prometheus_client import REGISTRY

    import app.metrics  # noqa: F401 - registers its listeners

    def value(name: str, **labels) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    opened = value("stepgate_provider_breaker_transitions_total", provider="metered", state="open")
    refused = value("stepgate_provider_calls_rejected_total", provider="metered")
    CircuitBreaker("metered", failures=1).failed("connect timed out")
    bulkhead = bulkheads.Bulkhead(1, patience=0)
    assert bulkhead.try_enter("metered") and not bulkhead.try_enter("metered")
    bulkhead.leave()
    assert value("stepgate_provider_breaker_transitions_total", provider="metered", state="open") == opened + 1
    assert value("stepgate_provider_calls_rejected_total", provider="metered") == refused + 1
