"""Restoring an archive of `portal.backup` into an empty target, then checking the result.

Nothing is written until the archive (every member present, each with the size and SHA-256 its
manifest records; a schema version this code knows) and the target (a data directory, upload
directory and database without portal data) have passed their checks. After writing, the
restored database and files are compared with the manifest and the history chain is verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any, BinaryIO

from portal import history_keys
from portal.backup import (
    CHUNK,
    EMPTY_ENOUGH,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MEMBERS,
    SAFE_NAME,
    SECRET,
    BackupError,
    engine,
    libpq,
    new_file,
    pg_connect,
    pg_facts,
    run_tool,
    sqlite_facts,
    sqlite_path,
)
from portal.config import Settings
from portal.db import configure, db
from portal.migrations import KEYED_HISTORY, LATEST
from portal.services.history import verify_chain


class PartialRestore(BackupError):
    """The restore failed after it had begun writing: the target must be emptied again."""


class _Archive:
    """An archive's members by name (tarfile's own lookup reads its whole list each time)."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar, self.members = tar, {m.name: m for m in tar.getmembers()}

    def open(self, name: str) -> BinaryIO | None:
        """The member's content, or None when it is missing or not a regular file."""
        member = self.members.get(name)
        return self.tar.extractfile(member) if member is not None and member.isfile() else None


def _sha256(f: BinaryIO) -> dict[str, Any]:
    sha, size = hashlib.sha256(), 0
    while chunk := f.read(CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return {"size": size, "sha256": sha.hexdigest()}


def _read_manifest(archive: _Archive) -> dict[str, Any]:
    f = archive.open(MANIFEST)
    if f is None:
        raise BackupError("The archive has no manifest.json: it is not a portal backup.")
    try:
        manifest = json.loads(f.read())
    except (ValueError, tarfile.TarError) as exc:
        raise BackupError(f"The archive's manifest.json cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("The archive's manifest.json is not that of a portal backup.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"Unknown backup format version {manifest.get('format_version')!r}.")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= LATEST:
        raise BackupError(
            f"The archive has schema version {version!r}; this code knows 1 to "
            f"{LATEST}. Restore it with the code that made it (or a newer one)."
        )
    if manifest.get("engine") not in MEMBERS:
        raise BackupError(f"Unknown database engine {manifest.get('engine')!r} in the manifest.")
    shapes = {"tables": dict, "files": dict, "database": dict, "history": (dict, type(None))}
    if manifest["engine"] == "postgresql":
        shapes["pg_schema"] = str
    for key, shape in shapes.items():
        if not isinstance(manifest.get(key), shape):
            raise BackupError(f"The archive's manifest.json has no valid {key!r}.")
    return manifest


def _expected(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Archive member -> its recorded size and SHA-256."""
    members = {MEMBERS[manifest["engine"]]: manifest["database"]}
    if manifest.get("secret_key"):
        members[SECRET] = manifest["secret_key"]
    for name, entry in manifest["files"].items():
        if not SAFE_NAME.fullmatch(name):
            raise BackupError(f"The manifest names an unsafe file: {name!r}")
        members[f"uploads/{name}"] = entry
    return members


def _check_members(archive: _Archive, expected: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, entry in expected.items():
        if name not in archive.members:
            problems.append(f"{name} is missing from the archive")
            continue
        f = archive.open(name)
        if f is None:
            problems.append(f"{name} is not a regular file")
        elif _sha256(f) != {"size": entry["size"], "sha256": entry["sha256"]}:
            problems.append(f"{name} does not match the size and SHA-256 in the manifest")
    if problems:
        raise BackupError("The archive is damaged:\n  " + "\n  ".join(problems))


def _check_target(settings: Settings, manifest: dict[str, Any]) -> bool:
    """Raise BackupError unless the target holds no portal data; for PostgreSQL, return
    whether the archive's schema exists already (empty)."""
    found: list[Path] = []
    data_dir, uploads = settings.data_dir, settings.uploads
    if data_dir.exists() and not data_dir.is_dir():
        raise BackupError(f"{data_dir} is not a directory.")
    if data_dir.exists():
        found += [
            data_dir / n
            for n in sorted(os.listdir(data_dir))
            if n not in EMPTY_ENOUGH and data_dir / n != uploads
        ]
    if uploads.exists() and (not uploads.is_dir() or any(uploads.iterdir())):
        found.append(uploads)
    if engine(settings.database_url) == "sqlite":
        path = sqlite_path(settings.database_url)
        found += [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    found = list(dict.fromkeys(found))  # the database may lie in the data directory
    if found:
        raise BackupError(
            "The target is not empty; restore into an empty data directory and "
            "database. Found:\n  " + "\n  ".join(map(str, found))
        )
    if engine(settings.database_url) == "sqlite":
        return False
    return _check_pg_target(settings.database_url, manifest["pg_schema"])


def _check_pg_target(database_url: str, schema: str) -> bool:
    with closing(pg_connect(database_url)) as conn:
        cur = conn.cursor()
        cur.execute("SELECT current_setting('search_path'), current_user")
        raw, user = cur.fetchone()
        path = [p.strip().strip('"') for p in raw.split(",")]
        path = [user if p == "$user" else p for p in path if p]
        if schema not in path:
            raise BackupError(
                f"The archive holds schema {schema}, which is not on the search_path of "
                f"DATABASE_URL ({raw}): add options=-csearch_path%3D{schema} to DATABASE_URL."
            )
        cur.execute(
            """SELECT n.nspname, count(c.oid) FROM pg_namespace n
               LEFT JOIN pg_class c ON c.relnamespace = n.oid
                    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
               WHERE n.nspname = ANY(%s) GROUP BY n.nspname""",
            (path,),
        )
        schemas = dict(cur.fetchall())
        conn.rollback()
    busy = [
        f"schema {name}: {count} tables or sequences" for name, count in schemas.items() if count
    ]
    if busy:
        raise BackupError(
            "The target database is not empty; restore into an empty database "
            "or schema. Found:\n  " + "\n  ".join(busy)
        )
    return schema in schemas


def _check_history_keys(settings: Settings, manifest: dict[str, Any]) -> None:
    """Raise BackupError unless the target has every history key the archive's chain needs
    (the archive does not hold them: see the README's "History key")."""
    needed = manifest.get("history_keys") or []
    if not isinstance(needed, list) or not all(isinstance(k, str) for k in needed):
        raise BackupError("The archive's manifest.json has no valid 'history_keys'.")
    have = {history_keys.key_id(key) for key in settings.history_keys}
    missing = sorted(set(needed) - have)
    if missing:
        raise BackupError(
            f"The history was hashed with the history key {', '.join(missing)} (key id), which "
            f"the target does not have; the archive does not hold it on purpose. Copy the "
            f"original instance's history_key file into {settings.data_dir} (or set "
            "PORTAL_HISTORY_KEY to it) and restore again."
        )


def _extract(archive: _Archive, name: str, dest: Path) -> None:
    source = archive.open(name)
    assert source is not None  # checked by _check_members
    with new_file(dest) as out:
        shutil.copyfileobj(source, out, CHUNK)


def _pg_restore(archive: _Archive, settings: Settings, schema_exists: bool) -> None:
    conninfo, env = libpq(settings.database_url)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=settings.data_dir) as work:
        dump, listing = Path(work) / "database.pgdump", Path(work) / "list"
        _extract(archive, MEMBERS["postgresql"], dump)
        entries = run_tool(["pg_restore", "--list", str(dump)], env).splitlines()
        if schema_exists:  # an empty schema made beforehand (PostgreSQL's public is one)
            entries = [
                e for e in entries if " SCHEMA - " not in e and " COMMENT - SCHEMA " not in e
            ]
        listing.write_text("\n".join(entries) + "\n")
        run_tool(
            [
                "pg_restore",
                f"--dbname={conninfo}",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--use-list={listing}",
                str(dump),
            ],
            env,
        )


def _write(
    archive: _Archive, manifest: dict[str, Any], settings: Settings, schema_exists: bool
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if manifest["engine"] == "sqlite":
        path = sqlite_path(settings.database_url)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _extract(archive, MEMBERS["sqlite"], path)
    else:  # first: one transaction, the step most likely to fail (a pg_restore too old)
        _pg_restore(archive, settings, schema_exists)
    if manifest.get("secret_key"):
        _extract(archive, SECRET, settings.data_dir / SECRET)
    settings.uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in manifest["files"]:
        _extract(archive, f"uploads/{name}", settings.uploads / name)


def _verify(settings: Settings, manifest: dict[str, Any]) -> list[str]:
    """What the restored target has that differs from the manifest (empty: nothing)."""
    if manifest["engine"] == "sqlite":
        facts, files = sqlite_facts(sqlite_path(settings.database_url))
    else:
        with closing(pg_connect(settings.database_url)) as conn:
            facts, files = pg_facts(conn)
    problems = []
    tables, restored = manifest["tables"], facts["tables"]
    for table in sorted(set(tables) | set(restored)):
        if tables.get(table) != restored.get(table):
            problems.append(
                f"table {table}: {restored.get(table)} rows restored, "
                f"the manifest says {tables.get(table)}"
            )
    if facts["schema_version"] != manifest["schema_version"]:
        problems.append(
            f"schema version {facts['schema_version']} restored, the manifest says "
            f"{manifest['schema_version']}"
        )
    if facts["history"] != manifest["history"]:
        problems.append(
            f"history head {facts['history']} restored, the manifest says {manifest['history']}"
        )
    for name in sorted({name for name, _, _ in files} - set(manifest["files"])):
        problems.append(f"uploads/{name}: an attachment names it, the archive does not hold it")
    expected = {f"uploads/{n}": (settings.uploads / n, e) for n, e in manifest["files"].items()}
    if manifest.get("secret_key"):
        expected[SECRET] = (settings.data_dir / SECRET, manifest["secret_key"])
    for name, (path, entry) in sorted(expected.items()):
        if not path.is_file():
            problems.append(f"{name}: missing after the restore")
            continue
        with path.open("rb") as f:
            if _sha256(f) != {"size": entry["size"], "sha256": entry["sha256"]}:
                problems.append(f"{name}: its size or SHA-256 differs from the manifest")
    # An older history is checked by `verify-history` once `migrate` has sealed its cut-over.
    if "dossier_event" in restored and manifest["schema_version"] >= KEYED_HISTORY:
        configure(settings)
        try:
            checked, broken, problem = verify_chain()
        finally:
            db.close_all()
        if problem:
            where = f"event {broken}" if broken else "the end of the chain"
            problems.append(
                f"the history chain is broken at {where}: {problem} ({checked} events checked)"
            )
    return problems


def restore_backup(path: Path, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """Restore the archive at `path` into the data directory, upload directory and database of
    `settings` and check the result; returns (the manifest, what differs from it: empty when all
    matches).
    Raises BackupError, having written nothing, when the archive or the target is not fit, and
    PartialRestore when writing failed part way."""
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by the `with tar` below)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{path} cannot be read as a tar archive: {exc}") from None
    with tar:
        archive = _Archive(tar)
        manifest = _read_manifest(archive)
        try:
            _check_members(archive, _expected(manifest))
        except (KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"The archive's manifest.json is malformed ({exc!r}).") from None
        kind = engine(settings.database_url)
        if kind != manifest["engine"]:
            raise BackupError(
                f"The archive holds a {manifest['engine']} database; DATABASE_URL "
                f"names a {kind} one."
            )
        schema_exists = _check_target(settings, manifest)
        _check_history_keys(settings, manifest)
        try:
            _write(archive, manifest, settings, schema_exists)
        except (BackupError, OSError) as exc:
            raise PartialRestore(
                f"The restore stopped part way: {exc}\nEmpty {settings.data_dir}, the upload "
                "directory and the database before trying again."
            ) from None
    return manifest, _verify(settings, manifest)
