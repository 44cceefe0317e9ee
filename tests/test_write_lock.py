"""SQLite's writers take turns (portal/write_lock.py): the threads of a process and the
processes sharing a database wait for the write lock instead of failing with "database is
locked", and a transaction that fails lets the next writer in. With SQLite's own busy
timeout set to zero here, any writer that reached SQLite's lock while another held it would
fail at once: only the write lock keeps these tests green."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from portal.db import SerialWriteSqliteDatabase
from portal.write_lock import WriteLock
from tests.conftest import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's write lock")

ROOT = Path(__file__).resolve().parents[1]
THREADS, ROUNDS = 4, 40

WRITER = """
import sys
from concurrent.futures import ThreadPoolExecutor
from portal.db import SerialWriteSqliteDatabase
database = SerialWriteSqliteDatabase(sys.argv[1], pragmas={"journal_mode": "wal",
    "busy_timeout": 0}, lock_type="IMMEDIATE", check_same_thread=False, max_connections=8)

def work(_):
    for _ in range(int(sys.argv[3])):
        with database.connection_context(), database.atomic():
            (value,) = database.execute_sql("SELECT n FROM counter").fetchone()
            database.execute_sql("UPDATE counter SET n = ?", (value + 1,))

with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    list(pool.map(work, range(int(sys.argv[2]))))
"""


def _database(path: Path) -> SerialWriteSqliteDatabase:
    return SerialWriteSqliteDatabase(
        str(path),
        pragmas={"journal_mode": "wal", "busy_timeout": 0},
        lock_type="IMMEDIATE",
        check_same_thread=False,
        max_connections=8,
    )


def _counter(path: Path) -> SerialWriteSqliteDatabase:
    database = _database(path)
    with database.connection_context():
        database.execute_sql("CREATE TABLE counter (n INTEGER)")
        database.execute_sql("INSERT INTO counter VALUES (0)")
    return database


def test_writers_of_two_processes_and_their_threads_take_turns(tmp_path):
    path = tmp_path / "portal.db"
    database = _counter(path)
    env = {"PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-c", WRITER, str(path), str(THREADS), str(ROUNDS)]
    writers = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(2)]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    with database.connection_context():
        (value,) = database.execute_sql("SELECT n FROM counter").fetchone()
    assert value == 2 * THREADS * ROUNDS  # no update lost, none refused


def test_a_failed_transaction_lets_the_next_writer_in(tmp_path):
    database = _counter(tmp_path / "portal.db")
    with database.connection_context():
        with pytest.raises(ValueError), database.atomic():
            database.execute_sql("UPDATE counter SET n = 5")
            raise ValueError("the handler failed")
        with pytest.raises(Exception, match="no such table"), database.atomic():
            database.execute_sql("UPDATE missing SET n = 1")

    def write(_):
        with database.connection_context(), database.atomic():
            database.execute_sql("UPDATE counter SET n = n + 1")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(write, range(THREADS * 5)))
    with database.connection_context():
        assert database.execute_sql("SELECT n FROM counter").fetchone()[0] == THREADS * 5


def test_a_writer_gives_up_after_the_timeout_while_another_process_holds_it(tmp_path):
    lock_path = tmp_path / "portal.db-writer"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_path)],
        env={"PYTHONPATH": str(ROOT / "src")},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        lock = WriteLock(lock_path)
        started = time.monotonic()
        assert lock.acquire(0.3) is False
        assert time.monotonic() - started >= 0.3  # it waited its timeout out, then gave up
        holder.stdin.close()  # the holder lets go and ends
        assert holder.wait(timeout=10) == 0
        assert lock.acquire(2) is True
        lock.release()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        if not holder.stdin.closed:
            holder.stdin.close()


HOLDER = """
import sys
from portal.write_lock import WriteLock
lock = WriteLock(__import__("pathlib").Path(sys.argv[1]))
assert lock.acquire(5)
print("held", flush=True)
sys.stdin.read()
lock.release()
"""
