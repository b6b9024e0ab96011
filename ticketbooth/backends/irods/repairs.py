"""What an operation cut short by an unreachable zone still owes the zone, done as soon as the zone answers again.

iRODS has no transaction around the several requests of a ticket create, a PATCH, an upload or a counter change.
When the zone goes away half-way through one, the undo TicketBooth runs at once fails as well. That undo is then
queued here and retried, in the order queued, every ``interval`` seconds by one background thread (started when
something is queued, ended when nothing is left), and also whenever :meth:`Repairs.run_pending` is called. So the
same process puts things right by itself within about a second of the zone's return, without waiting for traffic:

- a ticket whose create was cut short is deleted (it was issued expired and is brought to life by the create's
  last step, so until then it admits nobody; see ``backend.creation_steps``);
- a ticket whose PATCH was cut short is put back as it was, and only then its counter lock is released (uses of
  that ticket wait on the lock meanwhile, in every process);
- a counter lock whose release failed is released; a write reservation of a failed upload is given back; the
  partial data object of a failed upload is removed (it was never visible: see ``data``).

An action that fails because the zone is still unreachable (:func:`.errors.is_network_failure`, or any
``BackendUnavailable`` such as a busy counter lock) stays queued and stops the round, so later actions never overtake it; an action that fails for any other reason is logged and
dropped. The queue lives in the process: what a process that died owed is recovered only by the slower means
docs/irods.md describes (stale locks expire, a half-created ticket stays expired).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import BackendUnavailable, TicketBoothError
from .errors import is_network_failure

__all__ = ["Repair", "Repairs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repair:
    """One queued action; ``description`` (for log lines) names paths or ticket ids, never a ticket string."""

    description: str
    action: Callable[[], None]


class Repairs:
    """A FIFO of :class:`Repair` actions retried until the zone takes them (see the module docstring).

    ``autostart=False`` starts no thread (tests call :meth:`run_pending` themselves).
    """

    def __init__(self, *, interval: float = 1.0, autostart: bool = True) -> None:
        self.interval = interval
        self._autostart = autostart
        self._queue: deque[Repair] = deque()
        self._lock = threading.Lock()  # guards the queue and the thread handle
        self._running = threading.Lock()  # one round at a time
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, description: str, action: Callable[[], None]) -> None:
        """Queue ``action`` (after everything queued before it)."""
        log.warning("iRODS is unreachable: queued to be done once it answers: %s", description)
        with self._lock:
            self._queue.append(Repair(description, action))
            start = self._autostart and not self._closed.is_set() and (
                self._thread is None or not self._thread.is_alive())
            if start:
                self._thread = threading.Thread(target=self._loop, name="ticketbooth-irods-repairs", daemon=True)
                self._thread.start()

    def pending(self) -> list[str]:
        """The descriptions of the actions still queued, in order."""
        with self._lock:
            return [repair.description for repair in self._queue]

    def run_pending(self) -> int:
        """Try the queued actions in order until one finds the zone unreachable; the number still queued."""
        with self._running:
            while True:
                with self._lock:
                    if not self._queue:
                        return 0
                    repair = self._queue[0]
                try:
                    repair.action()
                except Exception as err:  # noqa: BLE001 - kept or dropped, never raised to an unrelated caller
                    if isinstance(err, BackendUnavailable) or is_network_failure(err):
                        with self._lock:
                            return len(self._queue)
                    code = err.code if isinstance(err, TicketBoothError) else type(err).__name__
                    log.error("gave up on: %s (%s); see docs/irods.md, 'When the zone goes away'", repair.description,
                              code)
                else:
                    log.info("done now that iRODS answers again: %s", repair.description)
                with self._lock:
                    if self._queue and self._queue[0] is repair:
                        self._queue.popleft()

    def _loop(self) -> None:
        while not self._closed.wait(self.interval):
            if not self.run_pending():
                with self._lock:
                    if not self._queue:  # checked under the lock add() starts threads under: nothing is missed
                        self._thread = None
                        return

    def close(self) -> None:
        """Stop retrying (what is still queued is logged as abandoned)."""
        self._closed.set()
        for description in self.pending():
            log.error("abandoned at shutdown, iRODS still unreachable: %s", description)
