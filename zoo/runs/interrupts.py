"""SIGINT and SIGTERM during training: stop at the next step boundary, not in the middle of a
write. Preemption on every cloud and cluster scheduler is a SIGTERM; Ctrl-C is a SIGINT."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from zoo.errors import ZooError

SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Interrupted(ZooError):
    """The run was stopped by a signal; exits 128 + the signal number (130, 143)."""

    prefix = "Interrupted"

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"stopped by {SIGNALS.get(signum, signum)}")
        self.signum = signum
        self.exit_code = 128 + int(signum)


@dataclass
class StopRequest:
    """Set by the signal handler while ``fit`` runs; the training callback raises at the next
    step boundary. Outside ``fit`` (data loading, the finish) a signal raises at once: there is
    no half-done step to protect there, and every file is written atomically."""

    signum: int | None = None
    in_fit: bool = False

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)


@contextlib.contextmanager
def handled() -> Iterator[StopRequest]:
    """Install the handlers for the block (main thread only; elsewhere signals keep Python's
    defaults) and put the previous ones back after it."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):
        if request.in_fit and request.signum is None:
            request.signum = signum  # stop at the next step boundary
            return
        raise Interrupted(signum)  # a second signal, or outside fit: stop now

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
