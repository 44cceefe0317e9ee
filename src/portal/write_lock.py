"""One writer at a time on a SQLite database, taken in turn by every thread of every process.

SQLite lets one connection write at a time; the others wait in its busy handler, which polls
with growing sleeps (up to 100 ms between tries). Under load this is unfair: a newcomer often
takes the lock before a writer that has waited for seconds, every waiter wakes up late, and
some wait past the timeout and fail. Here the threads of a process queue on a lock of their
own, and the one at the head takes an advisory lock (flock) on a file beside the database,
which the kernel hands over as soon as its holder lets go. Only then does it BEGIN, so SQLite
itself never has to wait."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

# While waiting for another process's writer, the file lock is tried again this often: a
# blocking flock could not give up after the timeout, and there is one waiter per process.
RETRY_SECONDS = 0.001


class WriteLock:
    """Held from a write transaction's BEGIN to its COMMIT or ROLLBACK. `path` is the lock
    file (None for a database with no file: the threads of this process only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd = -1
        self._fd_pid = 0

    def acquire(self, timeout: float) -> bool:
        """Take the lock; False when it could not be had within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            return False
        try:
            if self.path is None or self._lock_file(deadline):
                return True
        except BaseException:
            self._threads.release()
            raise
        self._threads.release()
        return False

    def release(self) -> None:
        try:
            if self.path is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self, deadline: float) -> bool:
        fd = self._file()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(RETRY_SECONDS)

    def _file(self) -> int:
        # A file descriptor inherited through fork() would share its lock with the parent:
        # each process opens its own.
        if self._fd_pid != os.getpid():
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._fd_pid = os.getpid()
        return self._fd
