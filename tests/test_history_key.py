"""The history holds against someone with database access: its hashes are HMAC-SHA256 with a
key that is not in the database. An insider who edits a row and recomputes every hash the way
the code once did (plain SHA-256) is named; so is one who marks the events as unkeyed or moves
the sealed cut-over. Chains hashed before the key existed still verify, and a rotated-out key
still verifies the events it hashed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from portal import history_keys
from portal.config import ConfigError, Settings, load_or_create_history_keys
from portal.db import db
from portal.models import DossierEvent, HistoryHead
from portal.services import history

OTHER_KEY = "another-history-key-of-at-least-32-characters"


def record(n: int, note: str = "event") -> None:
    for i in range(n):
        with db.connection_context(), db.atomic():
            history.record(history.SYSTEM, "login", note=f"{note} {i}", public=False)


def events() -> list[DossierEvent]:
    with db.connection_context():
        return list(DossierEvent.select().order_by(DossierEvent.id))


def plain_sha256(prev: str, e: DossierEvent) -> str:
    """The hash as anyone can compute it without the key (what the code did before)."""
    fields = [prev, str(e.dossier_id or ""), str(e.actor_id or ""), e.actor_name, e.actor_role,
              e.actor_unit, e.action,
              "" if e.status_before is None else str(e.status_before),
              "" if e.status_after is None else str(e.status_after), e.note,
              "1" if e.public else "0", e.client_addr,
              e.created_at.isoformat(timespec="microseconds")]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def insider_rehash(*, start: int = 2, **changes_of_third: object) -> int:
    """Change the third event, then recompute every hash from the event `start` on (all of
    them with 0) and the head with plain SHA-256, as someone with the database but not the key
    would. Returns the third event's id."""
    with db.connection_context(), db.atomic():
        rows = list(DossierEvent.select().order_by(DossierEvent.id))
        target = rows[2]
        for name, value in changes_of_third.items():
            setattr(target, name, value)
        prev = rows[start - 1].hash if start else history.GENESIS
        for row in rows[start:]:
            row.prev_hash = prev
            row.hash = plain_sha256(prev, row)
            row.save()
            prev = row.hash
        HistoryHead.update(last_hash=prev).execute()
    return target.id


def test_a_row_rewritten_and_every_hash_recomputed_with_sha256_is_named(settings):
    record(5)
    assert history.verify_chain() == (5, None, "")
    target = insider_rehash(note="nothing happened")
    assert history.verify_chain() == (3, target, "its content does not match its hash")
    # rehashing the whole chain only names its first event
    insider_rehash(start=0, note="nothing happened")
    assert history.verify_chain() == (1, events()[0].id, "its content does not match its hash")


def test_events_passed_off_as_hashed_before_the_key_are_named(settings):
    """The insider marks every event as hashed without a key: after the cut-over none may be."""
    record(4)
    with db.connection_context(), db.atomic():
        DossierEvent.update(key_id="").execute()
    insider_rehash(start=0, note="nothing happened")
    checked, broken, problem = history.verify_chain()
    assert (checked, broken) == (1, events()[0].id)
    assert problem == "it is not hashed with the history key, though it comes after the cut-over"


def test_a_moved_cut_over_is_found(settings):
    """Moving the cut-over past the events (so they pass as unkeyed) breaks its seal."""
    record(4)
    with db.connection_context(), db.atomic():
        DossierEvent.update(key_id="").execute()
        HistoryHead.update(keyed_from=4).execute()
    insider_rehash(start=0, note="nothing happened")
    assert history.verify_chain() == (
        4, None, "the cut-over to keyed hashes is not sealed by a history key known here")


def legacy_chain(n: int) -> list[str]:
    """A history written before the key existed (plain SHA-256, no key id, no seal), then
    migrated: the migration seals the cut-over after its `n` events."""
    record(n, "old")
    with db.connection_context(), db.atomic():
        prev = history.GENESIS
        for row in DossierEvent.select().order_by(DossierEvent.id):
            row.key_id, row.prev_hash = "", prev
            row.hash = plain_sha256(prev, row)
            row.save()
            prev = row.hash
        HistoryHead.update(last_hash=prev, keyed_from=0, seal="").execute()
        history.ensure_head()  # what migration 7 does
    return [e.hash for e in events()]


def test_a_chain_hashed_before_the_key_still_verifies_and_goes_on_keyed(settings):
    legacy_chain(3)
    record(2, "new")
    rows = events()
    assert [bool(e.key_id) for e in rows] == [False, False, False, True, True]
    assert history.verify_chain() == (5, None, "")
    with db.connection_context():
        assert HistoryHead.get().keyed_from == 3


def test_events_from_before_the_key_rewritten_with_plain_sha256_are_found(settings):
    """Before any keyed event follows them, the seal holds the last unkeyed event's hash."""
    legacy_chain(3)
    insider_rehash(note="nothing happened")  # every hash from the third on, and the head
    assert history.verify_chain() == (
        3, None, "the cut-over to keyed hashes is not sealed by a history key known here")


def test_an_edited_event_from_before_the_key_is_still_found(settings):
    legacy_chain(3)
    record(1, "new")
    target = events()[1]
    with db.connection_context(), db.atomic():
        DossierEvent.update(note="changed").where(DossierEvent.id == target.id).execute()
    assert history.verify_chain() == (2, target.id, "its content does not match its hash")


def test_a_rotated_key_still_verifies_what_it_hashed(settings):
    record(2, "first key")
    old = settings.history_keys[0]
    history_keys.bind([OTHER_KEY, old])  # the new key first, the old one kept to verify
    record(2, "second key")
    ids = [e.key_id for e in events()]
    assert ids[:2] == [history_keys.key_id(old)] * 2
    assert ids[2:] == [history_keys.key_id(OTHER_KEY)] * 2
    assert history.verify_chain() == (4, None, "")
    history_keys.bind([OTHER_KEY])  # the old key dropped: its events can no longer be checked
    checked, broken, problem = history.verify_chain()
    assert "sealed" in problem and broken is None


def test_without_the_key_the_events_are_not_taken_as_intact(settings):
    record(2)
    seal_key = settings.history_keys[0]
    history_keys.bind([OTHER_KEY, seal_key])
    with db.connection_context(), db.atomic():
        DossierEvent.update(key_id=history_keys.key_id("unknown-key" * 4)).where(
            DossierEvent.id == events()[1].id).execute()
    checked, broken, problem = history.verify_chain()
    assert (checked, broken) == (2, events()[1].id)
    assert problem.startswith("it is hashed with a history key this instance does not have")


def test_the_key_file_is_generated_once_with_mode_0600(tmp_path: Path):
    keys = load_or_create_history_keys(tmp_path)
    path = tmp_path / "history_key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_history_keys(tmp_path) == keys and len(keys[0]) >= 32
    path.write_text(f"{OTHER_KEY}\n{keys[0]}\n")  # rotation: a new key on the first line
    assert load_or_create_history_keys(tmp_path) == (OTHER_KEY, keys[0])


def test_the_key_comes_from_the_environment_when_set(tmp_path: Path):
    env = {"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_HISTORY_KEY": f"{OTHER_KEY}, {'k' * 40}"}
    assert Settings.from_env(env).history_keys == (OTHER_KEY, "k" * 40)
    assert not (tmp_path / "history_key").exists()
    with pytest.raises(ConfigError, match="PORTAL_HISTORY_KEY"):
        Settings.from_env({**env, "PORTAL_HISTORY_KEY": "short"})


def test_a_database_from_before_the_key_with_a_plain_chain_is_migrated_and_still_verifies(settings):
    """A real upgrade: the database of the version before, its events hashed with plain
    SHA-256 and no key columns; `migrate` seals the cut-over and the chain goes on keyed."""
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import KEYED_HISTORY, _migrator, migrate
    from portal.models import SchemaVersion, SecurityCount

    record(3, "old")
    legacy_chain(0)  # rehash the three events with plain SHA-256
    with db.connection_context(), db.atomic():
        run_operations(_migrator().drop_column("dossier_event", "key_id"),
                       _migrator().drop_column("history_head", "keyed_from"),
                       _migrator().drop_column("history_head", "seal"))
        db.drop_tables([SecurityCount])
        SchemaVersion.update(version=KEYED_HISTORY - 1).execute()
    assert migrate()[0] == KEYED_HISTORY - 1
    assert history.verify_chain() == (3, None, "")
    record(2, "new")
    assert [bool(e.key_id) for e in events()] == [False, False, False, True, True]
    assert history.verify_chain() == (5, None, "")
