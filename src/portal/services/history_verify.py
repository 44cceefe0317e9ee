"""Verifying the processing history (`run.py verify-history`): streamed, in parallel, and
resumable from a checkpoint.

Events are read as plain rows in keyset batches (`WHERE id > last ... ORDER BY id LIMIT n`),
never as model instances nor as one result set (psycopg2 would fetch a whole result set into
memory), so memory does not grow with the history. An event's hash needs only its own row (its
previous hash is stored), so worker processes, each with its own connection, check ranges of
ids at once; this process stitches the ranges in order: each range's first previous hash must
be the last hash of the range before, and the keyed events must begin where the head's sealed
cut-over says. A range that does not pass, or holds the cut-over, is checked again here event
by event with the sequential rules, which name the first broken event exactly as one pass
over the whole chain does.

The head and the last event's id are read in one snapshot, so events the running portal
appends meanwhile are left for the next run instead of looking like a broken end.

A checkpoint (events checked, the last one's id and hash, the cut-over the run verified, the
time) is kept in the database it describes, MACed with the history key like the head's seal:
`--resume` starts after it, once its MAC holds and the event it ends at still has the hash
it verified. It trusts the events before the checkpoint as they were when checked; a run
without `--resume` checks everything again."""

from __future__ import annotations

import hmac
import multiprocessing
import os
import signal
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from playhouse.db_url import parse

from portal import history_keys
from portal.db import bound_url, reading, transactional
from portal.models import DossierEvent, HistoryCheckpoint, utcnow
from portal.services.history_hash import GENESIS, HASHED, UNSEALED, digest, seal_holds

BATCH = 5_000  # rows per query
SPAN = 50_000  # ids per range a worker checks
CHECKPOINT_EVERY = 1_000_000
COLUMNS = ("id", "key_id", "prev_hash", "hash", *HASHED)

LINK = "its previous hash does not match the event before it"
CONTENT = "its content does not match its hash"
UNKEYED = "it is not hashed with the history key, though it comes after the cut-over"
MISSING = "events are missing at the end of the chain"
BAD_CHECKPOINT = "the checkpoint is not sealed by a history key known here"
MOVED_CHECKPOINT = "the event the checkpoint ends at is not the one it verified"
NEW_CUT_OVER = "the head's cut-over is not the one the checkpoint verified"


class Verdict(NamedTuple):
    checked: int  # events checked, the first of the chain on
    broken: int | None  # the first broken event's id, if one is named
    problem: str  # what is wrong; "" when the chain is intact


@dataclass(frozen=True)
class Head:
    last_hash: str
    count: int
    keyed_from: int
    seal: str


@dataclass
class Position:
    """How far the chain is verified; `sealed` once the cut-over's seal has been checked."""

    checked: int = 0
    last_id: int = 0
    prev: str = GENESIS
    sealed: bool = False


class Scan(NamedTuple):
    """A worker's look at one range of ids: its events checked each on its own."""

    count: int
    first_prev: str
    last_id: int
    last_hash: str
    first_keyed: int | None  # index in the range of the first event with a key id
    last_unkeyed: int | None  # ... and of the last one without
    holds: bool  # every hash and every link inside the range holds


class _Found(Exception):
    """Ends the check with a Verdict."""


# --- reading rows ------------------------------------------------------------------------------


def connect(url: str) -> Any:
    """A DB-API connection of its own to the database `url` names, for reading only."""
    if url.startswith("sqlite:"):
        path = Path(parse(url)["database"]).resolve()
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30,
                               isolation_level=None)
    import psycopg2

    conn = psycopg2.connect(**parse(url))
    conn.set_session(readonly=True, autocommit=True)
    return conn


def _mark(conn: Any) -> str:
    return "?" if isinstance(conn, sqlite3.Connection) else "%s"


def rows(conn: Any, after: int, upto: int, batch: int = BATCH) -> Iterator[tuple]:
    """The events with ids in (after, upto], oldest first, as COLUMNS tuples, `batch` rows
    per query."""
    m = _mark(conn)
    table = DossierEvent._meta.table_name
    sql = (f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE id > {m} AND id <= {m} "
           f"ORDER BY id LIMIT {m}")
    cur = conn.cursor()
    while True:
        cur.execute(sql, (after, upto, batch))
        got = cur.fetchall()
        yield from got
        if len(got) < batch:
            return
        after = got[-1][0]


def _snapshot(conn: Any) -> tuple[Head | None, int]:
    """The head and the last event's id, read in one snapshot."""
    sqlite = isinstance(conn, sqlite3.Connection)
    if sqlite:
        conn.execute("BEGIN")
    else:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute("SELECT last_hash, count, keyed_from, seal FROM history_head ORDER BY id "
                    "LIMIT 1")
        row = cur.fetchone()
        cur.execute(f"SELECT MAX(id) FROM {DossierEvent._meta.table_name}")
        last_id = cur.fetchone()[0] or 0
    finally:
        conn.rollback()
        if not sqlite:
            conn.set_session(autocommit=True)
    return (Head(*row) if row else None), last_id


# --- the rules ---------------------------------------------------------------------------------


def _hash_problem(prev: str, row: tuple, *, keyed: bool) -> str:
    """What is wrong with the event's hash ("" when nothing)."""
    kid, stored, values = row[1], row[3], row[4:]
    if not keyed:
        return CONTENT if kid or digest(prev, values) != stored else ""
    if not kid:
        return UNKEYED
    key = history_keys.get(kid)
    if key is None:
        return f"it is hashed with a history key this instance does not have ({kid})"
    if not hmac.compare_digest(digest(prev, values, key).encode(), stored.encode()):
        return CONTENT
    return ""


def check(events: Iterable[tuple], at: Position, head: Head | None) -> None:
    """Check `events` one after the other from `at` (which they advance), the seal of the
    cut-over included; raise _Found at the first problem."""
    keyed_from = head.keyed_from if head is not None else 0
    for row in events:
        if not at.sealed and at.checked == keyed_from:
            if not seal_holds(keyed_from, head.seal, at.prev):
                raise _Found(Verdict(at.checked, None, UNSEALED))
            at.sealed = True
        event_id, _kid, prev_hash, stored = row[:4]
        checked = at.checked + 1
        if prev_hash != at.prev:
            raise _Found(Verdict(checked, event_id, LINK))
        problem = _hash_problem(at.prev, row, keyed=checked > keyed_from)
        if problem:
            raise _Found(Verdict(checked, event_id, problem))
        at.checked, at.last_id, at.prev = checked, event_id, stored


def _fits(scan: Scan, at: Position, head: Head | None) -> bool:
    """Whether a range a worker found intact on its own continues the chain at `at`: linked to
    it, keyed where the cut-over says, and not holding the cut-over (checked here)."""
    if not scan.holds:
        return False
    if scan.count == 0:
        return True
    keyed_from = head.keyed_from if head is not None else 0
    first_keyed = None if scan.first_keyed is None else at.checked + scan.first_keyed + 1
    last_unkeyed = None if scan.last_unkeyed is None else at.checked + scan.last_unkeyed + 1
    return (
        scan.first_prev == at.prev
        and (at.sealed or keyed_from >= at.checked + scan.count)
        and (first_keyed is None or first_keyed > keyed_from)
        and (last_unkeyed is None or last_unkeyed <= keyed_from)
    )


# --- the workers -------------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _start_worker(url: str, keys: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C, then stops us
    history_keys.bind(keys)
    _worker["conn"] = connect(url)


def scan(after: int, upto: int, batch: int = BATCH, conn: Any = None) -> Scan:
    """Check each event with an id in (after, upto] on its own (its hash, with the key its key
    id names or none) and the links inside the range; stop at the first that fails."""
    n, first_prev, last_id, last_hash = 0, "", after, ""
    first_keyed = last_unkeyed = None
    for row in rows(conn or _worker["conn"], after, upto, batch):
        event_id, kid, prev_hash, stored = row[:4]
        if n == 0:
            first_prev = prev_hash
        elif prev_hash != last_hash:
            return Scan(n, first_prev, last_id, last_hash, first_keyed, last_unkeyed, False)
        key = history_keys.get(kid) if kid else None
        if (kid and key is None) or digest(prev_hash, row[4:], key) != stored:
            return Scan(n, first_prev, last_id, last_hash, first_keyed, last_unkeyed, False)
        if kid and first_keyed is None:
            first_keyed = n
        elif not kid:
            last_unkeyed = n
        n, last_id, last_hash = n + 1, event_id, stored
    return Scan(n, first_prev, last_id, last_hash, first_keyed, last_unkeyed, True)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


# --- checkpoints -------------------------------------------------------------------------------


def _mac_of(c: HistoryCheckpoint, kid: str, key: str) -> str:
    message = (
        f"history-checkpoint\x1f{c.checked}\x1f{c.last_id}\x1f{c.last_hash}\x1f{c.keyed_from}"
        f"\x1f{c.seal}\x1f{c.created_at.isoformat(timespec='microseconds')}"
    ).encode()
    return f"{kid}:{hmac.new(key.encode(), message, 'sha256').hexdigest()}"


@transactional
def save_checkpoint(at: Position, head: Head | None) -> None:
    """Replace the checkpoint with `at` (verified), MACed with the current history key."""
    kid, key = history_keys.current()
    c = HistoryCheckpoint(
        checked=at.checked, last_id=at.last_id, last_hash=at.prev,
        keyed_from=head.keyed_from if head else 0, seal=head.seal if head else "",
        created_at=utcnow(),
    )
    c.mac = _mac_of(c, kid, key)
    HistoryCheckpoint.delete().execute()
    c.save(force_insert=True)


@reading
def checkpoint() -> HistoryCheckpoint | None:
    return HistoryCheckpoint.select().order_by(HistoryCheckpoint.id.desc()).first()


def _resume(conn: Any, head: Head | None, cp: HistoryCheckpoint) -> Position:
    """The position the checkpoint `cp` records, once its MAC holds, the cut-over it verified
    is still the head's and the event it ends at still has the hash it verified."""
    kid = cp.mac.partition(":")[0]
    key = history_keys.get(kid)
    if key is None or not hmac.compare_digest(cp.mac.encode(), _mac_of(cp, kid, key).encode()):
        raise _Found(Verdict(0, None, BAD_CHECKPOINT))
    at = Position(cp.checked, cp.last_id, cp.last_hash)
    at.sealed = head is None or cp.checked > head.keyed_from
    if head is not None and at.sealed and (cp.keyed_from, cp.seal) != (head.keyed_from,
                                                                       head.seal):
        raise _Found(Verdict(cp.checked, None, NEW_CUT_OVER))
    if cp.checked:
        cur = conn.cursor()
        m = _mark(conn)
        cur.execute(f"SELECT hash FROM {DossierEvent._meta.table_name} WHERE id = {m}",
                    (cp.last_id,))
        row = cur.fetchone()
        if row is None or row[0] != cp.last_hash:
            raise _Found(Verdict(cp.checked, cp.last_id, MOVED_CHECKPOINT))
    return at


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Report:
    verdict: Verdict
    resumed_from: HistoryCheckpoint | None = None  # the checkpoint the run started after


def verify(**options: Any) -> Verdict:
    """`run()`'s verdict alone: (events checked, first broken event id or None, problem)."""
    return run(**options).verdict


def run(
    *,
    jobs: int | None = None,
    resume: bool = False,
    checkpoint_every: int = 0,
    progress: Callable[[int, int], None] | None = None,
    span: int = SPAN,
    batch: int = BATCH,
) -> Report:
    """Verify the chain with `jobs` processes (default: one per core; one when a single
    range holds it all), after the checkpoint with `resume`. With `checkpoint_every`, save a
    checkpoint each time that many more events are verified, at the end of an intact chain,
    and when interrupted (KeyboardInterrupt, re-raised). `progress(checked, total)` is called
    at the start and after each range."""
    conn = connect(bound_url())
    try:
        head, upto = _snapshot(conn)
        cp = checkpoint() if resume else None
        at = _resume(conn, head, cp) if cp is not None else Position(sealed=head is None)
        saved = at.checked
        total = head.count if head is not None else 0

        def step() -> None:
            nonlocal saved
            if progress is not None:
                progress(at.checked, total)
            if checkpoint_every and at.checked - saved >= checkpoint_every:
                save_checkpoint(at, head)
                saved = at.checked

        if progress is not None:
            progress(at.checked, total)
        try:
            _walk(conn, at, head, upto, jobs or default_jobs(), span, batch, step)
        except KeyboardInterrupt:
            if checkpoint_every and at.checked > saved:
                save_checkpoint(at, head)
            raise
        verdict = _end(at, head)
        if checkpoint_every and not verdict.problem and at.checked > saved:
            save_checkpoint(at, head)
        return Report(verdict, cp)
    except _Found as found:
        return Report(found.args[0], cp if resume else None)
    finally:
        conn.close()


def _walk(conn: Any, at: Position, head: Head | None, upto: int, jobs: int, span: int,
          batch: int, step: Callable[[], None]) -> None:
    ranges = ((lo, min(lo + span, upto)) for lo in range(at.last_id, upto, span))
    if jobs <= 1 or upto - at.last_id <= span:
        for lo, hi in ranges:
            check(rows(conn, lo, hi, batch), at, head)
            step()
        return
    keys = [history_keys.get(kid) for kid in history_keys.known_ids()]
    pending: deque[tuple[int, int, Future[Scan]]] = deque()

    def take() -> None:
        lo, hi, future = pending.popleft()
        found = future.result()
        if _fits(found, at, head):
            if found.count:
                at.checked, at.last_id, at.prev = (at.checked + found.count, found.last_id,
                                                   found.last_hash)
        else:  # name the first problem as the sequential check does (or seal the cut-over)
            check(rows(conn, lo, hi, batch), at, head)
        step()

    context = multiprocessing.get_context("spawn")  # no fork of a threaded process
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                             initargs=(bound_url(), keys)) as pool:
        try:
            for lo, hi in ranges:
                pending.append((lo, hi, pool.submit(scan, lo, hi, batch)))
                if len(pending) >= 2 * jobs:  # a bounded window: memory stays flat
                    take()
            while pending:
                take()
        finally:
            for *_, future in pending:
                future.cancel()


def _end(at: Position, head: Head | None) -> Verdict:
    """The checks at the end of the chain: the cut-over sealed, the head's hash and count."""
    if head is None:
        return Verdict(at.checked, None, "")
    if not at.sealed and (at.checked != head.keyed_from
                          or not seal_holds(head.keyed_from, head.seal, at.prev)):
        return Verdict(at.checked, None, UNSEALED)
    if head.last_hash != at.prev or head.count != at.checked:
        return Verdict(at.checked, None, MISSING)
    return Verdict(at.checked, None, "")
