"""`run.py backup` and `run.py restore` as real processes, on the test's database (SQLite, or a
PostgreSQL schema restored into a fresh database): what the archive holds, a restore that gives
back the same rows, files and history, refusals that touch nothing, damaged archives named."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from portal import history_keys
from portal.config import Settings
from portal.db import configure, db
from portal.migrations import LATEST
from portal.models import ALL_MODELS, Attachment, DossierEvent, HistoryHead, User
from portal.services import dossiers, processing
from portal.services.history import verify_chain
from tests.conftest import BASE_DATABASE_URL, ON_POSTGRES, _pg_connect
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft, make_ctx

ROOT = Path(__file__).resolve().parents[1]
DB_MEMBER = "database.pgdump" if ON_POSTGRES else "database.sqlite3"


def cli(
    *args: str, data_dir: Path, database_url: str | None, history_key: str = ""
) -> subprocess.CompletedProcess:
    """`run.py ARGS` with PORTAL_DATA_DIR and DATABASE_URL (None: SQLite in the data dir), and
    PORTAL_HISTORY_KEY when `history_key` is given."""
    env = {**os.environ, "PORTAL_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8"}
    for name in ("PORTAL_SECRET_KEY", "PORTAL_UPLOAD_DIR", "DATABASE_URL", "PORTAL_HISTORY_KEY"):
        env.pop(name, None)
    if history_key:
        env["PORTAL_HISTORY_KEY"] = history_key
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Target:
    """An empty place to restore into: a new data directory and, on PostgreSQL, a new database
    whose search_path names the source's schema (an archive keeps its schema's name)."""

    data_dir: Path
    database_url: str | None  # None: SQLite at data_dir/portal.db
    schema: str = ""
    history_key: str = ""  # the source's, given as PORTAL_HISTORY_KEY (not in the archive)

    def restore(self, archive: Path, *extra: str, with_key: bool = True
                ) -> subprocess.CompletedProcess:
        return cli(
            "restore",
            str(archive),
            "--data-dir",
            str(self.data_dir),
            *extra,
            data_dir=self.data_dir.parent / "elsewhere",
            database_url=self.database_url,
            history_key=self.history_key if with_key else "",
        )

    def settings(self) -> Settings:
        url = self.database_url or f"sqlite:///{self.data_dir / 'portal.db'}"
        return Settings.for_data_dir(
            self.data_dir, database_url=url, history_keys=(self.history_key,)
        )

    def tables(self) -> int:
        """How many tables the target database has."""
        if self.database_url is None:
            path = self.data_dir / "portal.db"
            if not path.exists():
                return 0
            with sqlite3.connect(path) as conn:
                return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        with pg(self.database_url) as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (self.schema,))
            return cur.fetchone()[0]


class pg:  # noqa: N801 (used like a function)
    """An autocommit cursor on a PostgreSQL URL."""

    def __init__(self, url: str | None = None) -> None:
        import psycopg2
        from playhouse.db_url import parse

        self.conn = psycopg2.connect(**parse(url)) if url else _pg_connect()
        self.conn.autocommit = True

    def __enter__(self):
        return self.conn.cursor()

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


@pytest.fixture
def target(tmp_path: Path, database_url: str, settings: Settings) -> Iterator[Target]:
    data_dir = tmp_path / "restored"
    key = settings.history_keys[0]
    if not ON_POSTGRES:
        yield Target(data_dir, None, history_key=key)
        return
    name = f"restore_{uuid.uuid4().hex[:12]}"
    schema = re.search(r"search_path%3D(\w+)", database_url).group(1)
    with pg() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(BASE_DATABASE_URL)
    query = "&".join(q for q in (parts.query, f"options=-csearch_path%3D{schema}") if q)
    try:
        url = urlunsplit(parts._replace(path=f"/{name}", query=query))
        yield Target(data_dir, url, schema, history_key=key)
    finally:
        db.close_all()
        with pg() as cur:
            cur.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def backup(settings: Settings, database_url: str) -> Callable[..., subprocess.CompletedProcess]:
    """`run.py backup ARGS` on the test's instance (its data directory holds the uploads)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return cli("backup", *args, data_dir=settings.data_dir, database_url=database_url)

    return run


@pytest.fixture
def filled(people, ctx_of) -> dict[str, int]:
    """A submitted dossier with its files and four history events, and a draft with files;
    returns the rows per table."""
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    submitted = dossiers.submit(owner, complete_draft(owner), "backup-1")
    processing.act(officer, submitted.id, "receive")
    processing.act(officer, submitted.id, "request_supplement", "Thiếu chứng từ")
    complete_draft(owner)
    return counts()


def counts() -> dict[str, int]:
    with db.connection_context():
        return {m._meta.table_name: m.select().count() for m in ALL_MODELS}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def rewrite(archive: Path, edit: Callable[[dict[str, bytes]], None]) -> Path:
    """A copy of the archive with its members changed by `edit` (name -> bytes)."""
    contents = members(archive)
    edit(contents)
    out = archive.with_name("tampered.tar")
    with tarfile.open(out, "w") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def tree(path: Path) -> dict[str, bytes | None]:
    """Everything under `path`, to see that a refusal changed nothing."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): p.read_bytes() if p.is_file() else None
        for p in sorted(path.rglob("*"))
    }


def test_backup_then_restore_gives_back_the_same_instance(
    filled, settings, backup, target, tmp_path, people
):
    with db.connection_context():
        attachments = {a.stored_name: a for a in Attachment.select()}
        head = HistoryHead.get()
        events = [(e.id, e.hash) for e in DossierEvent.select().order_by(DossierEvent.id)]
    assert len(attachments) == 4 and len(events) == 3

    archive = tmp_path / "out" / "portal.tar"
    with db.connection_context():  # the database is in use meanwhile
        assert Attachment.select().count() == 4
        result = backup("--output", str(archive))
    assert result.returncode == 0, result.stderr
    assert f"Backup written to {archive}" in result.stdout
    assert "with the secret key" in result.stdout
    assert archive.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in archive.parent.iterdir()] == ["portal.tar"]  # no temporary left

    contents = members(archive)
    assert set(contents) == {
        "manifest.json",
        DB_MEMBER,
        "secret_key",
        *(f"uploads/{name}" for name in attachments),
    }
    manifest = json.loads(contents["manifest.json"])
    assert manifest["schema_version"] == LATEST
    assert manifest["engine"] == ("postgresql" if ON_POSTGRES else "sqlite")
    assert {t: manifest["tables"][t] for t in filled} == filled
    assert (
        manifest["history"]
        == {"head": head.last_hash, "count": 3}
        == {"head": events[-1][1], "count": len(events)}
    )
    assert manifest["files"] == {
        n: {"size": a.size, "sha256": a.sha256} for n, a in attachments.items()
    }
    assert all(sha(contents[f"uploads/{n}"]) == a.sha256 for n, a in attachments.items())
    assert contents["secret_key"] == (settings.data_dir / "secret_key").read_bytes()

    result = target.restore(archive)
    assert result.returncode == 0, result.stderr
    assert "every count, file hash and the history chain check out" in result.stdout

    # Look at the restored instance with this process's own eyes.
    db.close_all()
    restored = target.settings()
    configure(restored)
    assert counts() == filled
    for name, attachment in attachments.items():
        data = (restored.uploads / name).read_bytes()
        assert sha(data) == attachment.sha256
        assert data == (settings.uploads / name).read_bytes()
    assert verify_chain() == (3, None, "")
    with db.connection_context():
        assert [(e.id, e.hash) for e in DossierEvent.select().order_by(DossierEvent.id)] == events
    secret = restored.data_dir / "secret_key"
    assert secret.read_bytes() == (settings.data_dir / "secret_key").read_bytes()
    assert secret.stat().st_mode & 0o777 == 0o600
    # The restored instance carries on: new rows get new ids (PostgreSQL's sequences too).
    with db.connection_context():
        owner = User.get_by_id(people.owner.id)
    ctx = make_ctx(owner, restored)
    dossiers.submit(ctx, complete_draft(ctx), "after-restore")
    assert verify_chain() == (4, None, "")


def test_the_history_key_is_not_in_the_archive_and_a_restore_without_it_is_refused(
    filled, settings, backup, target, tmp_path
):
    """The key must not travel with the data it protects: the archive names the key's id, and
    a target without that key gets nothing written and is told what to bring."""
    archive = tmp_path / "portal.tar"
    result = backup("--output", str(archive))
    assert result.returncode == 0 and "history key is not in the archive" in result.stdout
    contents = members(archive)
    assert "history_key" not in contents
    key = settings.history_keys[0]
    assert key.encode() not in b"".join(contents.values())
    kid = history_keys.key_id(key)
    assert json.loads(contents["manifest.json"])["history_keys"] == [kid]

    result = target.restore(archive, with_key=False)
    assert result.returncode != 0 and "Nothing was restored" in result.stderr
    assert kid in result.stderr and "history_key file" in result.stderr
    assert not target.data_dir.exists() and target.tables() == 0

    # The key file copied into the empty data directory is the other way to bring it.
    target.data_dir.mkdir()
    (target.data_dir / "history_key").write_text(key + "\n")
    result = target.restore(archive, with_key=False)
    assert result.returncode == 0, result.stderr
    assert "the history chain check out" in result.stdout


def test_backup_by_default_goes_to_the_data_directory(filled, settings, backup):
    result = backup()
    assert result.returncode == 0, result.stderr
    written = list((settings.data_dir / "backups").iterdir())
    assert len(written) == 1 and re.fullmatch(r"portal-\d{8}-\d{6}\.tar", written[0].name)
    assert written[0].stat().st_mode & 0o777 == 0o600
    assert str(written[0]) in result.stdout
    result = backup("--output", str(written[0]))
    assert result.returncode != 0 and "already exists" in result.stderr


@pytest.mark.parametrize("occupied", ["data_dir", "uploads", "database"])
def test_restore_into_a_target_that_is_not_empty_is_refused(
    filled, backup, target, tmp_path, database_url, occupied
):
    archive = tmp_path / "portal.tar"
    assert backup("--output", str(archive)).returncode == 0
    if occupied == "data_dir":
        target.data_dir.mkdir()
        (target.data_dir / "notes.txt").write_text("an old instance's file")
    elif occupied == "uploads":
        (target.data_dir / "uploads").mkdir(parents=True)
        (target.data_dir / "uploads" / "0123abcd").write_bytes(b"%PDF-1.4 old")
    else:  # the database is the source's own, full of rows
        target.database_url = database_url
    before = tree(target.data_dir)

    result = target.restore(archive)
    assert result.returncode != 0
    assert "Nothing was restored" in result.stderr and "not empty" in result.stderr
    named = {
        "data_dir": "notes.txt",
        "uploads": "uploads",
        "database": "schema t_" if ON_POSTGRES else "portal.db",
    }[occupied]
    assert named in result.stderr
    assert tree(target.data_dir) == before
    if occupied == "database":
        assert counts() == filled
    else:
        assert target.tables() == 0


def _flip_a_byte(name: str) -> Callable[[dict[str, bytes]], None]:
    def edit(contents: dict[str, bytes]) -> None:
        data = bytearray(contents[name])
        data[len(data) // 2] ^= 0x01
        contents[name] = bytes(data)

    return edit


def _edit_manifest(change: Callable[[dict], None]) -> Callable[[dict[str, bytes]], None]:
    def edit(contents: dict[str, bytes]) -> None:
        manifest = json.loads(contents["manifest.json"])
        change(manifest)
        contents["manifest.json"] = json.dumps(manifest).encode()

    return edit


@pytest.mark.parametrize(
    "damage", ["changed_file", "missing_file", "changed_database", "newer_schema"]
)
def test_a_damaged_archive_is_refused_naming_what_is_wrong(
    filled, backup, target, tmp_path, damage
):
    archive = tmp_path / "portal.tar"
    assert backup("--output", str(archive)).returncode == 0
    upload = sorted(n for n in members(archive) if n.startswith("uploads/"))[1]
    edit, expected = {
        "changed_file": (
            _flip_a_byte(upload),
            f"{upload} does not match the size and SHA-256 in the manifest",
        ),
        "missing_file": (
            lambda contents: contents.pop(upload),
            f"{upload} is missing from the archive",
        ),
        "changed_database": (_flip_a_byte(DB_MEMBER), f"{DB_MEMBER} does not match"),
        "newer_schema": (
            _edit_manifest(lambda m: m.update(schema_version=LATEST + 1)),
            f"schema version {LATEST + 1}; this code knows 1 to {LATEST}",
        ),
    }[damage]
    result = target.restore(rewrite(archive, edit))
    assert result.returncode != 0
    assert "Nothing was restored" in result.stderr and expected in result.stderr
    assert not target.data_dir.exists() and target.tables() == 0


def test_a_restore_that_does_not_match_its_manifest_says_what_differs(
    filled, backup, target, tmp_path
):
    archive = tmp_path / "portal.tar"
    assert backup("--output", str(archive)).returncode == 0
    tampered = rewrite(
        archive, _edit_manifest(lambda m: m["tables"].update(dossier=m["tables"]["dossier"] + 1))
    )
    result = target.restore(tampered)
    assert result.returncode != 0
    assert "does NOT match the archive" in result.stderr
    assert (
        f"table dossier: {filled['dossier']} rows restored, the manifest says "
        f"{filled['dossier'] + 1}" in result.stderr
    )
    assert "table attachment" not in result.stderr  # only what differs is named


@pytest.mark.skipif(ON_POSTGRES, reason="edits the SQLite file inside the archive")
def test_a_restored_history_that_was_altered_is_reported(filled, backup, target, tmp_path):
    archive = tmp_path / "portal.tar"
    assert backup("--output", str(archive)).returncode == 0

    def alter_second_event(contents: dict[str, bytes]) -> None:
        copy = tmp_path / "copy.db"
        copy.write_bytes(contents[DB_MEMBER])
        with sqlite3.connect(copy) as conn:
            conn.execute(
                "UPDATE dossier_event SET note = 'Không thiếu gì' WHERE id = "
                "(SELECT id FROM dossier_event ORDER BY id LIMIT 1 OFFSET 1)"
            )
        conn.close()
        contents[DB_MEMBER] = copy.read_bytes()
        manifest = json.loads(contents["manifest.json"])
        manifest["database"] = {
            "size": len(contents[DB_MEMBER]),
            "sha256": sha(contents[DB_MEMBER]),
        }
        contents["manifest.json"] = json.dumps(manifest).encode()

    with db.connection_context():
        second = DossierEvent.select().order_by(DossierEvent.id)[1].id
    result = target.restore(rewrite(archive, alter_second_event))
    assert result.returncode != 0
    assert f"the history chain is broken at event {second}" in result.stderr


def test_a_backup_while_dossiers_are_written_is_consistent(
    people, ctx_of, settings, backup, target, tmp_path
):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    stop, errors, rounds = threading.Event(), [], []

    def keep_writing() -> None:
        try:
            while not stop.is_set():
                dossier_id = complete_draft(owner)
                dossiers.submit(owner, dossier_id, f"w-{dossier_id}")
                processing.act(officer, dossier_id, "receive")
                rounds.append(dossier_id)
        except Exception as exc:  # reported by the test below
            errors.append(exc)

    if ON_POSTGRES:  # this time the archive's schema exists already, empty
        with pg(target.database_url) as cur:
            cur.execute(f"CREATE SCHEMA {target.schema}")
    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while not rounds and not errors and writer.is_alive():
            stop.wait(0.05)
        before = len(rounds)
        archive = tmp_path / "portal.tar"
        result = backup("--output", str(archive))
        during = len(rounds) - before
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors
    assert result.returncode == 0, result.stderr
    assert during > 0  # dossiers were written while the backup ran
    with db.connection_context():
        live = [(e.id, e.hash) for e in DossierEvent.select().order_by(DossierEvent.id)]
    assert verify_chain()[2] == ""

    result = target.restore(archive)
    assert result.returncode == 0, result.stderr  # counts, hashes and the chain all agree
    db.close_all()
    restored = target.settings()
    configure(restored)
    with db.connection_context():
        kept = [(e.id, e.hash) for e in DossierEvent.select().order_by(DossierEvent.id)]
        names = [(a.stored_name, a.sha256) for a in Attachment.select()]
    assert 2 * before <= len(kept) <= len(live) and kept == live[: len(kept)]
    assert verify_chain() == (len(kept), None, "")
    assert all(sha((restored.uploads / n).read_bytes()) == digest for n, digest in names)


def test_the_forms_procedures_offer_are_backed_up_and_restored(
    settings, catalogue, make_user, backup, target, tmp_path
):
    from portal.services import procedure_forms
    from portal.services.access import Ctx
    from tests.real_files import docx

    with db.connection_context():
        admin = make_user("admin")
    content = docx()
    form = procedure_forms.attach(
        Ctx(user=admin, uploads=settings.uploads), "1.008002", "Tờ khai mẫu", [content]
    )
    archive = tmp_path / "out" / "portal.tar"
    result = backup("--output", str(archive))
    assert result.returncode == 0, result.stderr
    contents = members(archive)
    assert contents[f"uploads/{form.stored_name}"] == content
    manifest = json.loads(contents["manifest.json"])
    assert manifest["files"][form.stored_name] == {"size": len(content), "sha256": sha(content)}
    result = target.restore(archive)
    assert result.returncode == 0, result.stderr
    db.close_all()
    restored = target.settings()
    assert (restored.uploads / form.stored_name).read_bytes() == content
