"""A period's courses read as columns: in this process, or, when there are many, shared among several processes
(each reads and folds a part of the cases, and sends back its columns), as a year at a million cases spends most of
its time in Python folding events, one core at a time.

Each case is read whole by one process in one transaction. The processes' transactions start moments apart, so an
event recorded meanwhile may be counted for one case and not another: a report is as of when it ran, give or take
those moments, as any report of a log still being written is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from engine.definitions.catalogue import Catalogue, load_catalogue
from engine.reports.columns import Columns, columns_of
from engine.reports.courses import Progress, find_cases, fold_cases
from engine.settings import Settings
from engine.store.database import Database

log = logging.getLogger(__name__)

#: Below this many cases a report is read in this process: starting others costs more than it saves.
PARALLEL_FROM = 40_000
#: Cases per part handed to a process (also how often progress is reported).
PART = 20_000
#: At most this many processes, however many cores.
MOST_WORKERS = 4

Arrays = dict[tuple[str, int], dict[str, Any]]


def read_columns(
    db: Database, catalogue: Catalogue, earliest: datetime, after: datetime | None, now: datetime,
    progress: Progress | None = None, *, workers: int | None = None, parallel_from: int = PARALLEL_FROM,
) -> list[Columns]:
    """Every case that can be in a cohort of a period from `earliest` to before `after`, folded, as columns (one
    `Columns` per workflow version). `workers` processes (default: `default_workers()`) share the folding when at
    least `parallel_from` cases are found and the database and the definitions can be opened again elsewhere."""
    count = workers if workers is not None else default_workers()
    with db.read() as conn:
        found = find_cases(conn, earliest, after)
        if count < 2 or len(found) < parallel_from or not _reopenable(db, catalogue):
            return columns_of(fold_cases(conn, catalogue, found, progress).values(), now)
    try:
        return _in_processes(db.url, catalogue, found, now, count, progress)
    except BrokenProcessPool:  # a worker could not start (or was killed): the report is still owed
        log.warning("report worker processes failed; reading the report's cases in this process")
        with db.read() as conn:
            return columns_of(fold_cases(conn, catalogue, find_cases(conn, earliest, after), progress).values(), now)


def default_workers() -> int:
    """`POSC_REPORT_WORKERS`, or the cores this process may use (at most `MOST_WORKERS`)."""
    configured = Settings().report_workers
    if configured is not None:
        return configured
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MOST_WORKERS, cores))


def _reopenable(db: Database, catalogue: Catalogue) -> bool:
    """A file or server database (not one in this process's memory) and definitions loaded from files."""
    url = make_url(db.url)
    in_memory = db.dialect == "sqlite" and (url.database in (None, "", ":memory:") or "mode=memory" in db.url)
    return not in_memory and catalogue.origin is not None


def _in_processes(
    url: str, catalogue: Catalogue, found: Sequence[str], now: datetime, workers: int, progress: Progress | None,
) -> list[Columns]:
    parts = [found[i:i + PART] for i in range(0, len(found), PART)]
    context = get_context("forkserver")  # forked from a clean process: never from a server's threads
    context.set_forkserver_preload(["engine.reports.reading"])
    gathered: dict[tuple[str, int], list[dict[str, Any]]] = {}
    if progress is not None:
        progress(0, len(found))
    done = 0
    with ProcessPoolExecutor(min(workers, len(parts)), mp_context=context) as pool:
        sizes: dict[Future[Arrays], int] = {
            pool.submit(_fold_part, url, catalogue.origin, list(part), now): len(part) for part in parts
        }
        for future in as_completed(sizes):
            for key, arrays in future.result().items():
                gathered.setdefault(key, []).append(arrays)
            done += sizes[future]
            if progress is not None:
                progress(done, len(found))
    return [Columns.joined(catalogue.workflow(*key), arrays, now) for key, arrays in gathered.items()]


#: A worker process's database and definitions, opened on its first part and kept for the next.
_OPENED: dict[str, Any] = {}


def _fold_part(url: str, origin: tuple[str, ...] | None, found: list[str], now: datetime) -> Arrays:
    """In a worker process: a part of the cases read, folded and sent back as columns."""
    if _OPENED.get("key") != (url, origin):
        if "db" in _OPENED:
            _OPENED["db"].dispose()
        _OPENED.update(key=(url, origin), db=Database(url, pool_size=1, max_overflow=0),
                       catalogue=load_catalogue([Path(p) for p in origin] if origin else None))
    db: Database = _OPENED["db"]
    catalogue: Catalogue = _OPENED["catalogue"]
    with db.read() as conn:
        courses = fold_cases(conn, catalogue, found)
    return {(c.workflow.id, c.workflow.version): c.arrays() for c in columns_of(courses.values(), now)}
