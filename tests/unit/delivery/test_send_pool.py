"""The sending threads: results and exceptions come back by key, never more than `size` run."""

from __future__ import annotations

import functools
import threading

import pytest

from vopi_obvo.delivery.send_pool import Done, SendPool


def test_results_and_errors_come_back_by_key_and_size_bounds_the_threads() -> None:
    pool: SendPool[int] = SendPool(3)
    gate = threading.Event()
    running: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> int:
        with lock:
            running.append(n)
        gate.wait(5)
        if n == 2:
            raise ValueError("two")
        return n * 10

    for n in range(3):
        pool.submit(n, functools.partial(job, n))
    assert pool.free == 0
    with pytest.raises(RuntimeError, match="busy"):
        pool.submit(99, lambda: 0)
    gate.set()
    done: list[Done[int]] = []
    while len(done) < 3:
        done += pool.collect(timeout=5)
    by_key = {d.key: d for d in done}
    assert by_key[0].value == 0 and by_key[1].value == 10
    assert isinstance(by_key[2].error, ValueError)
    assert pool.free == 3 and pool.in_flight == set()
    assert sorted(running) == [0, 1, 2]
    pool.close()


def test_collect_waits_at_most_its_timeout() -> None:
    pool: SendPool[int] = SendPool(1)
    assert pool.collect(timeout=0.01) == []
