"""The injected clock the test suites share (components take ``clock: Callable[[], datetime]``)."""
from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["Clock"]


class Clock:
    """An injected UTC clock that tests move by hand: ``clock()`` is ``clock.now``; ``advance`` moves it on."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
