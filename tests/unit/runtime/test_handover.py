"""services.runtime.handover: what other threads post reaches the consumer on the loop's thread, in order."""

from __future__ import annotations

import threading

from services.runtime.clock import SystemClock
from services.runtime.handover import Handover
from services.runtime.loop import ServiceLoop

PER_THREAD = 500
DEADLINE_NS = 5_000_000_000


def test_items_posted_from_other_threads_reach_the_loop_thread_in_their_order() -> None:
    loop = ServiceLoop(SystemClock())
    received: list[tuple[str, int, str]] = []

    def consume(item: tuple[str, int]) -> None:
        received.append((*item, threading.current_thread().name))
        if len(received) == 2 * PER_THREAD:
            loop.stop()

    handover: Handover[tuple[str, int]] = Handover(consume)
    loop.add_reader(handover.socket, handover.on_wake)
    loop.call_later(DEADLINE_NS, loop.stop)
    posters = [threading.Thread(target=lambda name=name: [handover.post((name, n)) for n in range(PER_THREAD)],
                                name=name) for name in ("sdk-a", "sdk-b")]
    for poster in posters:
        poster.start()
    loop.run()
    for poster in posters:
        poster.join()
    handover.close()
    loop.close()
    assert len(received) == 2 * PER_THREAD, "every item arrived before the deadline"
    assert {thread for _, _, thread in received} == {threading.current_thread().name}
    for name in ("sdk-a", "sdk-b"):
        assert [n for poster, n, _ in received if poster == name] == list(range(PER_THREAD))


def test_pump_without_a_loop_and_posting_after_close() -> None:
    received: list[int] = []
    handover: Handover[int] = Handover(received.append)
    assert handover.pump(0) == 0
    threading.Thread(target=lambda: handover.post(7)).start()
    assert handover.pump(5000) == 1
    assert received == [7]
    handover.close()
    handover.post(8)  # an SDK calling back during shutdown: dropped, not raised
    assert received == [7]
