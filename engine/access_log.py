"""The access log, written by group commit.

Every read of a case must be recorded before its answer leaves (42 CFR Part 2 accounting of disclosures), but a
transaction per read would make every read a writer, and on SQLite writers queue one at a time. Instead each read
hands its row to one writer thread and waits; the writer commits everything that queued meanwhile in a single
transaction and then releases the waiting readers. No reader answers before its row is durable, and many reads
share one commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert

from engine.access import ordered
from engine.actor import Actor
from engine.store.database import Database
from engine.store.tables import AccessLog

ACCESS_LOG = AccessLog.__table__  # type: ignore[attr-defined]
_INSERT = insert(ACCESS_LOG)
log = logging.getLogger("posc.access_log")


def access_row(actor: Actor, case_id: str | None, what: str, tiers: Iterable[str], at: datetime) -> dict[str, Any]:
    """One line of the accounting of disclosures: who read which tiers of which case, when (never what was
    searched for or shown: that would be personal data)."""
    return {
        "case_id": case_id, "actor_id": actor.id, "actor_role": actor.role, "organisation": actor.organisation,
        "what": what, "tiers": ",".join(ordered(tiers)), "at": at,
    }


def record_in(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Records disclosures inside a write transaction that is already open (an action's answer): they commit, or
    roll back, with it."""
    if rows:
        conn.execute(_INSERT, rows)


def logged_cte() -> Any:
    """PostgreSQL: the insert of one access-log row (`logged_params`) as a data-modifying CTE, so a statement that
    reads what is disclosed records the disclosure too."""
    return insert(ACCESS_LOG).values(
        {c.name: bindparam(f"l_{c.name}", type_=c.type) for c in ACCESS_LOG.c if c.name != "id"}
    ).cte("logged")


def logged_params(row: Mapping[str, Any]) -> dict[str, Any]:
    """`logged_cte`'s parameters for the access-log row `row` (`access_row`)."""
    return {f"l_{k}": v for k, v in row.items()}


class AccessLogWriter:
    """One background thread per database, committing queued access-log rows in batches."""

    def __init__(self, db: Database, max_batch: int = 500, timeout: float = 30.0) -> None:
        self.db = db
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.Queue[tuple[dict[str, Any], Future[None]]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._waiting = 0  # rows handed over and not yet committed (or failed)

    def waiting(self) -> int:
        """Access-log rows handed over by reads and not yet committed: a backlog means readers are waiting."""
        return self._waiting

    def _settled(self, count: int) -> None:
        with self._lock:
            self._waiting -= count

    def record(self, rows: list[dict[str, Any]]) -> None:
        """Returns once every row is committed; raises if the write failed (the read must then fail too)."""
        futures = []
        with self._lock:
            self._waiting += len(rows)
        for row in rows:
            future: Future[None] = Future()
            self._queue.put((row, future))
            futures.append(future)
        self._ensure_running()
        for future in futures:
            future.result(timeout=self.timeout)

    def _ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="posc-access-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self.db.write() as conn:
                    conn.execute(_INSERT, [row for row, _ in batch])
            except Exception as exc:  # every waiting reader learns that its read was not recorded
                log.error("access log write failed: %s", type(exc).__name__)
                self._settled(len(batch))
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self._settled(len(batch))
            for _, future in batch:
                future.set_result(None)
