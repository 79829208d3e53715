"""The threads that hand messages to the SMTP server and SMS gateways, `[delivery] concurrency`
at a time; the dispatcher's own thread claims, decides and records (docs/architecture.md,
"Concurrent delivery").

The threads only call `send`: no database, no decisions. Each job's result or exception comes
back on a queue that the dispatcher drains. They are daemon threads on purpose: when the
shutdown grace is over the process exits and a send still hanging in a socket is abandoned
(its claim was released, the message goes again), instead of the interpreter waiting for it
at exit as it would for a ThreadPoolExecutor's threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Done(Generic[T]):
    key: int
    value: T | None = None
    error: BaseException | None = None


class SendPool(Generic[T]):
    def __init__(self, size: int, name: str = "obvo-send") -> None:
        if size < 1:
            raise ValueError("a send pool needs at least one thread")
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[tuple[int, Callable[[], T]] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Done[T]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy: set[int] = set()
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> set[int]:
        """Keys submitted and not yet collected by `collect`."""
        with self._lock:
            return set(self._busy)

    @property
    def free(self) -> int:
        with self._lock:
            return self.size - len(self._busy)

    def submit(self, key: int, job: Callable[[], T]) -> None:
        with self._lock:
            if len(self._busy) >= self.size:
                raise RuntimeError("every sending thread is busy")
            self._busy.add(key)
            if len(self._threads) < min(len(self._busy), self.size):
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads) + 1}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put((key, job))

    def collect(self, timeout: float) -> list[Done[T]]:
        """What has finished: waits up to `timeout` s for the first, then takes what else is
        there without waiting."""
        results: list[Done[T]] = []
        try:
            results.append(self._done.get(timeout=timeout))
            while True:
                results.append(self._done.get_nowait())
        except queue.Empty:
            pass
        with self._lock:
            self._busy.difference_update(d.key for d in results)
        return results

    def close(self) -> None:
        """Threads end after their current job; nobody waits for them."""
        for _ in self._threads:
            self._jobs.put(None)
        self._threads = []

    def _work(self) -> None:
        while (item := self._jobs.get()) is not None:
            key, job = item
            try:
                self._done.put(Done(key, value=job()))
            except BaseException as exc:  # noqa: BLE001 - reported to the dispatcher, which decides
                self._done.put(Done(key, error=exc))
