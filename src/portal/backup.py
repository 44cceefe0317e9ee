"""Backups of a whole portal instance in one tar archive (`portal.restore` restores them).

An archive holds `manifest.json` (format, creation time, database engine, schema version, rows
per table, the history chain's head and length, each file's size and SHA-256), the database
(`database.sqlite3`, copied with SQLite's online backup API, or `database.pgdump`, written by
`pg_dump --format=custom`), `uploads/<stored name>` for every file an attachment or a
procedure's form names, and `secret_key` when the data directory has one. The history key
is left out on purpose (it must not travel with the data it protects): the manifest names the
ids of the keys the chain needs, and a restore asks for them. Both database copies read one
snapshot while the portal keeps running, and the counts and the file list come from that same
snapshot. The archive is written under a temporary name, mode 0600, and gets its final name
once complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from playhouse.db_url import parse

from portal.config import Settings
from portal.migrations import KEYED_HISTORY

FORMAT = "portal-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
SECRET = "secret_key"
# What a data directory may hold and still count as empty: the checkout's seed files, backups,
# and the history key the operator brought for the restored history.
EMPTY_ENOUGH = {"seed", "backups", "history_key"}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why, for the operator."""


class _FileGone(Exception):
    """A file the snapshot names was deleted before it was copied (its attachment was removed
    meanwhile): a new snapshot will not name it."""


def engine(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite:") else "postgresql"


def summary(manifest: dict[str, Any]) -> str:
    """What an archive holds, in one line."""
    rows = sum(manifest["tables"].values())
    size = sum(f["size"] for f in manifest["files"].values()) / 1024 / 1024
    events = (manifest["history"] or {}).get("count", 0)
    return (
        f"schema version {manifest['schema_version']}, {rows} rows in "
        f"{len(manifest['tables'])} tables, {len(manifest['files'])} uploaded files "
        f"({size:.1f} MB), {events} history events"
    )


def default_path(settings: Settings) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return settings.data_dir / "backups" / f"portal-{stamp}.tar"


# --- reading a database ------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _facts(conn: Any, tables: list[str]) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    """Rows per table, schema version and history head of one database snapshot, and the
    attachments' (stored name, size, sha256)."""
    cur = conn.cursor()
    counts = {}
    for table in sorted(tables):
        cur.execute(f"SELECT COUNT(*) FROM {_quote(table)}")
        counts[table] = cur.fetchone()[0]
    if "schema_version" not in counts:
        raise BackupError("The database has no portal schema (no schema_version table).")
    cur.execute("SELECT MAX(version) FROM schema_version")
    facts: dict[str, Any] = {"schema_version": cur.fetchone()[0], "tables": counts}
    facts["history"] = None
    if "history_head" in counts:
        cur.execute("SELECT last_hash, count FROM history_head ORDER BY id")
        row = cur.fetchone()
        facts["history"] = {"head": row[0], "count": row[1]} if row else None
    facts["history_keys"] = (
        _history_key_ids(cur) if facts["schema_version"] >= KEYED_HISTORY else []
    )
    files: list[tuple[str, int, str]] = []
    if "attachment" in counts:
        cur.execute("SELECT stored_name, size, sha256 FROM attachment ORDER BY id")
        files = [(name, size, sha) for name, size, sha in cur.fetchall()]
    if "procedure_form" in counts:  # the blank forms procedures offer, beside the attachments
        cur.execute("SELECT stored_name, size, sha256 FROM procedure_form ORDER BY id")
        files += [(name, size, sha) for name, size, sha in cur.fetchall()]
    return facts, files


def _history_key_ids(cur: Any) -> list[str]:
    """The ids of the history keys the snapshot's chain was hashed and sealed with."""
    cur.execute("SELECT DISTINCT key_id FROM dossier_event WHERE key_id <> ''")
    ids = {row[0] for row in cur.fetchall()}
    cur.execute("SELECT seal FROM history_head")
    ids |= {row[0].partition(":")[0] for row in cur.fetchall() if row[0]}
    return sorted(ids)


def sqlite_path(database_url: str) -> Path:
    return Path(parse(database_url)["database"])


def sqlite_facts(path: Path) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return _facts(conn, [r[0] for r in rows if not r[0].startswith("sqlite_")])


def pg_facts(conn: Any) -> tuple[dict[str, Any], list[tuple[str, int, str]]]:
    cur = conn.cursor()
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return _facts(conn, [r[0] for r in cur.fetchall()])


def pg_connect(database_url: str) -> Any:
    import psycopg2

    try:
        return psycopg2.connect(**parse(database_url))
    except psycopg2.OperationalError as exc:
        raise BackupError(f"Cannot connect to the database: {exc}".strip()) from None


def libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore and their environment (the password
    goes there, not on a command line other users can read)."""
    params = dict(parse(database_url))
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    params["dbname"] = params.pop("database")
    quoted = {
        key: str(value).replace("\\", "\\\\").replace("'", "\\'")
        for key, value in params.items()
        if value is not None
    }
    return " ".join(f"{key}='{value}'" for key, value in quoted.items()), env


def run_tool(command: list[str], env: dict[str, str]) -> str:
    if shutil.which(command[0]) is None:
        raise BackupError(f"`{command[0]}` is not installed (Debian: postgresql-client).")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")
    return done.stdout


def _snapshot_sqlite(database_url: str, work: Path) -> tuple[Path, dict, list]:
    source = sqlite_path(database_url)
    if not source.is_file():
        raise BackupError(f"There is no database at {source}.")
    copy = work / MEMBERS["sqlite"]
    with (
        closing(
            sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        ) as src,
        closing(sqlite3.connect(copy)) as dst,
    ):
        src.backup(dst)  # in one step: one read snapshot, writers carry on (WAL)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise BackupError(f"The copy of the database fails SQLite's check: {check}")
    return copy, *sqlite_facts(copy)


def _snapshot_postgres(database_url: str, work: Path) -> tuple[Path, dict, list]:
    """pg_dump the portal's schema from a snapshot this function exports and counts in."""
    dump = work / MEMBERS["postgresql"]
    conninfo, env = libpq(database_url)
    with closing(pg_connect(database_url)) as conn:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        cur = conn.cursor()
        cur.execute("SELECT pg_export_snapshot(), current_schema()")
        snapshot, schema = cur.fetchone()
        if schema is None:
            raise BackupError("No schema of the database's search_path exists.")
        facts, files = pg_facts(conn)
        facts["pg_schema"] = schema
        run_tool(
            [
                "pg_dump",
                f"--dbname={conninfo}",
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--schema={_quote(schema)}",
                f"--file={dump}",
            ],
            env,
        )
        conn.rollback()
    return dump, facts, files


# --- writing the archive -----------------------------------------------------------------------


class _Hashing:
    """A file read through, hashed as tarfile reads it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.sha = f, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.sha.update(data)
        return data


def _add(tar: tarfile.TarFile, name: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = os.fstat(f.fileno()).st_size, 0o600, path.stat().st_mtime
        reader = _Hashing(f)
        tar.addfile(info, reader)
    return {"size": info.size, "sha256": reader.sha.hexdigest()}


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def new_file(final: Path) -> Iterator[BinaryIO]:
    """Write a mode-0600 file under a temporary name; fsync it and give it the final name
    (never replacing a file) only when the block succeeds."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, final)  # fails if the final name exists, unlike a rename
        tmp.unlink()
        _fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_backup(settings: Settings, output: Path | None = None) -> tuple[Path, dict, list[str]]:
    """Write an archive of the instance; returns (its path, the manifest, warnings).
    Raises BackupError (leaving no archive behind)."""
    final = Path(output) if output else default_path(settings)
    if final.exists():
        raise BackupError(f"{final} already exists.")
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for _attempt in range(3):
        work = Path(tempfile.mkdtemp(prefix=".backup-", dir=final.parent))
        try:
            result = _try_backup(settings, final, work)
        except _FileGone:
            continue
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return final, *result
    raise BackupError("Uploaded files kept disappearing during the backup; try again.")


def _try_backup(settings: Settings, final: Path, work: Path) -> tuple[dict, list[str]]:
    """One attempt at the archive; raises _FileGone to start again from a new snapshot."""
    kind = engine(settings.database_url)
    snapshot = _snapshot_sqlite if kind == "sqlite" else _snapshot_postgres
    db_file, facts, files = snapshot(settings.database_url, work)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "engine": kind,
        **facts,
    }
    warnings: list[str] = []
    with (
        new_file(final) as raw,
        tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        manifest["database"] = _add(tar, MEMBERS[kind], db_file)
        secret = settings.data_dir / SECRET
        manifest["secret_key"] = _add(tar, SECRET, secret) if secret.is_file() else None
        manifest["files"] = {}
        for name, size, sha in files:
            if not SAFE_NAME.fullmatch(name):
                raise BackupError(f"An attachment has an unexpected stored name: {name!r}")
            try:
                entry = _add(tar, f"uploads/{name}", settings.uploads / name)
            except FileNotFoundError:
                raise _FileGone(name) from None
            if (entry["size"], entry["sha256"]) != (size, sha):
                warnings.append(
                    f"uploads/{name} differs from the size and hash its attachment "
                    "recorded at upload; archived as it is now"
                )
            manifest["files"][name] = entry
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode, info.mtime = len(data), 0o600, int(dt.datetime.now().timestamp())
        tar.addfile(info, io.BytesIO(data))
    return manifest, warnings
