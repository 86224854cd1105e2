"""What the receiver holds at once: bytes of bodies in flight, and bodies decoded in turns."""

from __future__ import annotations

import threading

from claude_telemetry_cli.clock import RealClock
from claude_telemetry_cli.receiver.admission import DecodeTurns, InFlight


def _until(predicate, timeout: float = 10.0) -> bool:
    clock = RealClock()
    deadline = clock.now() + timeout
    while not predicate():
        if clock.now() > deadline:
            return False
        clock.sleep(0.005)
    return True


def test_in_flight_refuses_what_does_not_fit_and_never_waits():
    held = InFlight(100)
    assert held.take(60) and held.take(40)
    assert not held.take(1)
    held.give(40)
    assert held.take(30) and held.held == 90


def test_turns_are_taken_in_order_as_many_at_once_as_fit():
    turns = DecodeTurns(10)
    decoding: list[str] = []
    done = threading.Event()

    def decode(name: str, size: int) -> None:
        with turns.turn(size):
            decoding.append(name)
            done.wait(10)

    first = turns.turn(8)
    first.__enter__()
    big = threading.Thread(target=decode, args=("big", 5))
    big.start()
    assert _until(lambda: len(turns._queue) == 1)
    small = threading.Thread(target=decode, args=("small", 1))
    small.start()
    assert _until(lambda: len(turns._queue) == 2)
    # The small one would fit beside the first, but waits behind the big one: no overtaking.
    assert decoding == []
    first.__exit__(None, None, None)
    assert _until(lambda: len(decoding) == 2)
    assert decoding == ["big", "small"]  # 5 + 1 fit the allowance together
    done.set()
    big.join()
    small.join()


def test_a_body_larger_than_the_allowance_is_decoded_alone():
    turns = DecodeTurns(10)
    with turns.turn(50):
        pass
    with turns.turn(3), turns.turn(7):
        pass
