from __future__ import annotations

import pytest

from delivery.retries import Backoff, Failure, keep_trying

BACKOFF = Backoff(attempts=5, base_delay=2.0, max_delay=300.0, max_total=600.0)
BUSY = Failure("answered 503", True, 503)
REFUSED = Failure("answered 401", False, 401)


class Server:
    """Answers with the queued failures in turn, then accepts; counts what it was sent."""

    def __init__(self, *answers: Failure) -> None:
        self.answers, self.sent = list(answers), 0

    def __call__(self) -> Failure | None:
        self.sent += 1
        return self.answers.pop(0) if self.answers else None


def run(server: Server, backoff: Backoff = BACKOFF, **options):
    sleeps: list[float] = []
    tried = keep_trying(server, backoff, sleep=sleeps.append, **options)
    return tried, sleeps


def test_an_accepted_first_attempt_sleeps_never() -> None:
    tried, sleeps = run(Server())
    assert (tried.attempts, tried.failure, tried.waited, sleeps) == (1, None, 0.0, [])


def test_back_off_doubles_is_capped_and_spread_to_between_half_and_all() -> None:
    tried, sleeps = run(Server(BUSY, BUSY, BUSY, BUSY))
    assert tried.failure is None and tried.attempts == 5 and sleeps == [2.0, 4.0, 8.0, 16.0]
    capped = Backoff(attempts=4, base_delay=100.0, max_delay=150.0, max_total=600.0)
    _, spread = run(Server(BUSY, BUSY, BUSY), capped, spread=lambda: 0.0)
    assert spread == [50.0, 75.0, 75.0]


def test_the_wait_a_server_names_is_slept_as_given() -> None:
    asked = Failure("answered 429", True, 429, wait=7.0, why=" (Retry-After: 7)")
    told: list[tuple[str, int, float]] = []
    tried, sleeps = run(Server(asked), on_wait=lambda f, n, s: told.append((f.why, n, s)))
    assert sleeps == [7.0] and tried.waited == 7.0
    assert told == [(" (Retry-After: 7)", 2, 7.0)]


def test_a_final_answer_is_not_retried() -> None:
    server = Server(BUSY, REFUSED)
    tried, sleeps = run(server)
    assert tried.failure == REFUSED and tried.attempts == 2 == server.sent
    assert sleeps == [2.0] and tried.next_wait is None


def test_running_out_of_attempts_returns_the_last_failure() -> None:
    tried, sleeps = run(Server(*[BUSY] * 5), Backoff(3, 1.0, 10.0, 100.0))
    assert tried.failure == BUSY and tried.attempts == 3 and tried.next_wait is None
    assert sleeps == [1.0, 2.0]


def test_a_wait_over_max_delay_or_past_max_total_ends_the_retries_unslept() -> None:
    too_long = Failure("answered 429", True, 429, wait=301.0)
    tried, sleeps = run(Server(too_long))
    assert (tried.attempts, tried.next_wait, sleeps) == (1, 301.0, [])
    long = Failure("answered 429", True, 429, wait=250.0)
    tried, sleeps = run(Server(long, long, long))
    assert sleeps == [250.0, 250.0]
    assert (tried.attempts, tried.waited, tried.next_wait) == (3, 500.0, 250.0)


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        run(Server(), Backoff(0, 1.0, 1.0, 1.0))
