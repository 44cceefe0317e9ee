"""The national data set for bench/scale.py (issue 16): dossiers over three years across every
unit of both structures, about ten history events each with a valid chain, enterprises and
their accounts, and a busy office with thousands of open dossiers. Bulk loading, not the web
path: rows are generated in Python and inserted in batches (PostgreSQL: COPY).

    .venv/bin/python bench/seed_scale.py [--dossiers 1000000] [--enterprises 100000]
                                         [--busy-office 02CI] [--busy-open 5000] [--years 3]

On the database the settings name (PORTAL_DATA_DIR's SQLite file, or DATABASE_URL), which must
hold no dossier yet: it is migrated and seeded with the units, the catalogue and the demo
accounts (as `run.py seed-demo`, without its demo dossiers) first. Then, in submission order:
dossiers filed to the branches of the 2016 structure before 1/3/2025 and to the offices of the
2025 one since; the older ones ended (mostly returned, some refused, withdrawn or stopped;
about one in twelve late), the last weeks' partly open; the busy office gets `--busy-open`
open dossiers of its own. Each dossier's events follow the state machine's actions
(services/workflow.py) with their statuses, actors and public flags, hashed into the history
chain with the deployment's history key (`run.py verify-history` checks them). Due dates count
working days skipping weekends only (holidays left out: a bulk load, not the deadline rules).
The random generator is seeded (`--seed`): the same arguments give the same data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from peewee import chunked  # noqa: E402

from portal import history_keys  # noqa: E402
from portal.config import Settings  # noqa: E402
from portal.db import configure, db, is_postgres  # noqa: E402
from portal.migrations import migrate  # noqa: E402
from portal.models import (  # noqa: E402
    Dossier,
    DossierEvent,
    DossierSequence,
    Enterprise,
    HistoryHead,
    Procedure,
    ProcessingTime,
    Unit,
    User,
)
from portal.services import history_hash, stat_facts  # noqa: E402
from portal.services.accounts import hash_password  # noqa: E402
from portal.services.seed import seed_demo  # noqa: E402
from portal.services.workflow import TRANSITIONS  # noqa: E402

CUT_OVER = dt.datetime(2025, 2, 28, 17, 0)  # 1/3/2025 00:00 in Vietnam, in UTC
BATCH = 20_000  # dossiers generated and inserted at a time
# How a dossier ended, for those filed more than OPEN_DAYS ago.
ENDINGS = [(10, 0.88), (3, 0.05), (7, 0.04), (8, 0.03)]  # RETURNED, REFUSED, WITHDRAWN, STOPPED
OPEN_DAYS = 45
OPEN_NOW = [(1, 0.15), (2, 0.10), (4, 0.45), (5, 0.10), (6, 0.10), (9, 0.10)]
LATE_SHARE = 0.08
FILE_NAMES = ["to_khai_hai_quan.pdf", "hop_dong_thuong_mai.pdf", "hoa_don_thuong_mai.pdf",
              "van_don.pdf", "giay_chung_nhan_xuat_xu.pdf"]
NOTES_INTERNAL = {"attach_result", "assign"}  # history.note events the applicant doesn't see
EVENT_COLUMNS = ["id", "dossier_id", "actor_id", "actor_name", "actor_role", "actor_unit",
                 "action", "status_before", "status_after", "note", "public", "client_addr",
                 "created_at", "prev_hash", "hash", "key_id"]
DOSSIER_COLUMNS = ["id", "code", "procedure_id", "enterprise_id", "owner_id", "unit_id", "status",
                   "approval", "resume_status", "form_data", "assigned_to_id", "submit_key",
                   "submitted_at", "received_at", "due_at", "paused_at", "finished_at",
                   "apology_due_at", "reminded_at", "overdue_told_at", "created_at",
                   "updated_at", "channel", "contact_name", "contact_phone"]


def tax_code(n: int) -> str:
    """A 10-digit tax code with a valid check digit (Circular 105/2020's weights)."""
    body = f"{(10_000_000 + n * 7919) % 100_000_000:08d}"
    digits = "0" + body  # 9 digits: the province prefix 0x and the serial
    weights = (31, 29, 23, 19, 17, 13, 7, 5, 3)
    check = 10 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    if check == 10:
        return tax_code(n + 10_000_019)
    return f"{digits}{check % 10}"


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    out = start
    while days > 0:
        out += dt.timedelta(days=1)
        if out.weekday() < 5:
            days -= 1
    return out


def pick(rng: random.Random, weighted: list[tuple[int, float]]) -> int:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def path_to(final: int, rng: random.Random) -> list[tuple[str, int, int]]:
    """The actions from draft to `final`: (action, status before, status after)."""
    steps = [("add_file", 0, 0)] * rng.choice((1, 2, 2, 3)) + [("submit", 0, 1)]
    if final == 1:
        return steps
    if final == 3:
        return [*steps, ("refuse_reception", 1, 3)]
    steps.append(("receive", 1, 2))
    if rng.random() < 0.6:
        steps.append(("assign", 2, 2))
    if final == 2:
        return steps
    if final == 7:
        return [*steps, ("withdraw", 2, 7)]
    steps.append(("start_processing", 2, 4))
    if final == 8:
        return [*steps, ("stop_processing", 4, 8)]
    if final == 5 or rng.random() < 0.3:
        steps.append(("request_supplement", 4, 5))
        if final == 5:
            return steps
        steps.append(("supplement", 5, 4))
    if final == 6 or rng.random() < 0.4:
        steps.append(("request_payment", 4, 6))
        if final == 6:
            return steps
        steps.append(("payment_received", 6, 4))
    if final == 4:
        return steps
    steps += [("submit_for_approval", 4, 4), ("approve", 4, 4), ("attach_result", 4, 4),
              ("issue_result", 4, 9)]
    if final == 9:
        return steps
    return [*steps, ("return_result", 9, 10)]


class Generator:
    def __init__(self, args: argparse.Namespace, now: dt.datetime) -> None:
        self.rng = random.Random(args.seed)
        self.now = now
        self.start = now - dt.timedelta(days=365 * args.years)
        self.offices = {
            s: list(Unit.select().where(Unit.structure == s, Unit.kind == "branch"))
            for s in ("2016", "2025")
        }
        self.busy = Unit.get(Unit.structure == "2025", Unit.code == args.busy_office)
        online = list(Procedure.select().where(Procedure.online_level >= 3))
        days = {t.procedure_id: t.amount for t in ProcessingTime.select().where(
            ProcessingTime.channel == "online")}
        self.procedures = [(p.id, max(1, days.get(p.id, 5))) for p in online]
        self.sequences: dict[tuple[str, str], int] = defaultdict(int)
        kid, key = history_keys.current()
        self.kid, self.key = kid, key
        head = HistoryHead.select().order_by(HistoryHead.id).first()
        self.head_id, self.prev, self.count = head.id, head.last_hash, head.count
        self.event_id = (DossierEvent.select(DossierEvent.id).order_by(
            DossierEvent.id.desc()).scalar() or 0)
        self.dossier_id = 0
        self.staff: dict[int, tuple[list, tuple]] = {}
        self.enterprise_users: list[tuple[int, int, str]] = []

    def staff_of(self, unit: Unit) -> tuple[list, tuple]:
        """Three officers and a leader for the unit, made on first use."""
        if unit.id not in self.staff:
            officers = []
            for role, n in (("officer", 1), ("officer", 2), ("officer", 3), ("leader", 1)):
                user = User.create(
                    username=f"scale.{role}{n}.{unit.structure}.{unit.code.lower()}",
                    password_hash=self.password, full_name=f"Cán bộ {role} {n} {unit.code}",
                    role=role, unit=unit.id, enterprise_status="active",
                )
                officers.append((user.id, user.full_name, role, unit.ref))
            self.staff[unit.id] = (officers[:3], officers[3])
        return self.staff[unit.id]

    def submission_times(self, count: int) -> list[dt.datetime]:
        """`count` times over the period, more as adoption grows (twice as many at the end as
        at the start), on working days, in order."""
        span = (self.now - self.start).total_seconds()
        times = []
        while len(times) < count:
            # Density rising linearly from 1 to 2: inverse transform of its distribution.
            u = self.rng.random()
            x = (-1 + (1 + 3 * u) ** 0.5)  # solves x + x^2/2 = 1.5u on [0, 1]
            t = self.start + dt.timedelta(seconds=x * span)
            if t.weekday() < 5:
                times.append(t.replace(hour=self.rng.randint(1, 10)))
        return sorted(times)

    def submission_times_between(self, start: dt.datetime, count: int) -> list[dt.datetime]:
        """`count` times between `start` and now, evenly spread at random, in order."""
        span = (self.now - start).total_seconds()
        return sorted(start + dt.timedelta(seconds=self.rng.random() * span)
                      for _ in range(count))

    def dossier(self, submitted: dt.datetime, busy: bool) -> tuple[list, list]:
        rng = self.rng
        if busy:
            unit = self.busy
            final = pick(rng, OPEN_NOW)
        else:
            structure = "2016" if submitted < CUT_OVER else "2025"
            unit = rng.choice(self.offices[structure])
            age = (self.now - submitted).days
            if age > OPEN_DAYS or rng.random() < age / OPEN_DAYS:
                final = pick(rng, ENDINGS)
            else:
                final = pick(rng, OPEN_NOW)
        officers, leader = self.staff_of(unit)
        procedure_id, days = rng.choice(self.procedures)
        enterprise_id, owner_id, owner_name = rng.choice(self.enterprise_users)
        self.dossier_id += 1
        local = submitted + dt.timedelta(hours=7)
        day = local.strftime("%y%m%d")
        self.sequences[(unit.code, day)] += 1
        code = f"{unit.code}-{day}-{self.sequences[(unit.code, day)]:04d}"
        steps = path_to(final, rng)
        # The time the dossier took, from submission to its last step: on time but for a few.
        limit = add_working_days(submitted, days) - submitted
        late = final in (10, 7, 8) and rng.random() < LATE_SHARE
        share = rng.uniform(1.05, 1.6) if late else rng.uniform(0.2, 0.95)
        total = min(limit * share, max(self.now - submitted, dt.timedelta(minutes=len(steps))))
        drafted = sum(1 for action, _, _ in steps if action == "add_file")
        before = sorted(submitted - dt.timedelta(minutes=rng.randint(1, 600))
                        for _ in range(drafted))  # the files attached to the draft
        gaps = sorted(rng.random() for _ in steps[drafted + 1:])
        times = [*before, submitted] + [submitted + total * g for g in gaps]
        officer = rng.choice(officers)
        events = []
        received_at = due_at = paused_at = finished_at = None
        for (action, before, after), when in zip(steps, times, strict=True):
            note = ""
            if action == "add_file":
                note = rng.choice(FILE_NAMES)
            elif action == "assign":
                note = officer[1]
            if action in ("add_file", "submit", "withdraw", "supplement"):
                actor = (owner_id, owner_name, "enterprise", "")
            elif action == "payment_received":
                actor = (None, "system", "system", "")
            elif action == "approve":
                actor = leader
            else:
                actor = officer
            internal = action in NOTES_INTERNAL or (
                action in TRANSITIONS and TRANSITIONS[action].internal)
            events.append(
                (self.dossier_id, *actor, action, before, after, note, not internal, when))
            if action == "receive":
                received_at, due_at = when, add_working_days(when, days)
            paused_at = when if after == 5 else None
        if final in (3, 7, 8, 10):
            finished_at = times[-1]
        row = [self.dossier_id, code, procedure_id, enterprise_id, owner_id, unit.id, final, "",
               4 if final == 5 else None, "{}", officer[0] if final not in (1, 3) else None,
               None, submitted, received_at, due_at, paused_at, finished_at, None, None, None,
               times[0], times[-1], "online", "", ""]
        return row, events

    def chained(self, events: list[tuple]) -> list[list]:
        """The events as rows with ids and hashes, continuing the chain."""
        rows = []
        for (dossier_id, actor_id, name, role, unit, action, before, after, note, public,
             when) in events:
            self.event_id += 1
            values = (dossier_id, actor_id, name, role, unit, action, before, after, note,
                      public, "", when)  # in history_hash.HASHED order
            digest = history_hash.digest(self.prev, values, self.key)  # the chain's hash
            rows.append([self.event_id, dossier_id, actor_id, name, role, unit, action, before,
                         after, note, public, "", when, self.prev, digest, self.kid])
            self.prev = digest
        self.count += len(rows)
        return rows


def insert_rows(model, rows: list[dict]) -> None:
    """Insert `rows` of `model` a few hundred at a time (SQLite allows 32,766 variables)."""
    for batch in chunked(rows, 500):
        model.insert_many(batch).execute()


def insert(table: str, columns: list[str], rows: list[list]) -> None:
    if not rows:
        return
    if is_postgres():
        buf = io.StringIO()
        for row in rows:
            buf.write("\t".join(_copy_value(v) for v in row) + "\n")
        buf.seek(0)
        cursor = db.cursor()
        cursor.copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buf)
        return
    marks = ", ".join("?" for _ in columns)
    db.cursor().executemany(
        f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})',
        [[v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v for v in row]
         for row in rows],
    )


def _copy_value(value: object) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--busy-office", default="02CI", help="a 2025 office's code")
    parser.add_argument("--busy-open", type=int, default=5_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    began = time.monotonic()
    configure(Settings.from_env())
    migrate()
    seed_demo()
    with db.connection_context():
        if Dossier.select().exists():
            sys.exit("The database already has dossiers: bench/seed_scale.py fills an empty one.")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        gen = Generator(args, now)
        gen.password = hash_password("scale-bench-2026")  # one hash for every account
        with db.atomic():
            first = (Enterprise.select(Enterprise.id).order_by(Enterprise.id.desc()).scalar()
                     or 0) + 1
            insert_rows(Enterprise, [
                {"tax_code": tax_code(n), "name": f"Công ty TNHH Thương mại số {n}",
                 "email": f"dn{n}@example.vn", "created_at": gen.start}
                for n in range(args.enterprises)])
            enterprises = list(Enterprise.select(Enterprise.id, Enterprise.tax_code).where(
                Enterprise.id >= first))
            insert_rows(User, [
                {"username": f"dn.{e.tax_code}@example.vn", "password_hash": gen.password,
                 "full_name": f"Người khai {e.tax_code}", "role": "enterprise",
                 "enterprise": e.id, "enterprise_status": "active"} for e in enterprises])
            gen.enterprise_users = [
                (u.enterprise_id, u.id, u.full_name) for u in User.select(
                    User.id, User.enterprise, User.full_name).where(
                    User.username.startswith("dn."), User.role == "enterprise")
            ]
        print(f"{len(enterprises)} enterprises and their accounts in "
              f"{time.monotonic() - began:.0f} s", flush=True)
        busy_open = min(args.busy_open, args.dossiers)
        regular = gen.submission_times(args.dossiers - busy_open)
        recent = gen.now - dt.timedelta(days=OPEN_DAYS)
        busy = gen.submission_times_between(recent, busy_open) if busy_open else []
        times = sorted([(t, False) for t in regular] + [(t, True) for t in busy])
        events_total = 0
        for offset in range(0, len(times), BATCH):
            dossiers, events = [], []
            with db.atomic():
                for submitted, is_busy in times[offset:offset + BATCH]:
                    row, evs = gen.dossier(submitted, is_busy)
                    dossiers.append(row)
                    events.extend(evs)
                insert("dossier", DOSSIER_COLUMNS, dossiers)
                insert("dossier_event", EVENT_COLUMNS, gen.chained(events))
                HistoryHead.update(last_hash=gen.prev, count=gen.count).where(
                    HistoryHead.id == gen.head_id).execute()
            events_total += len(events)
            done = offset + len(dossiers)
            if done % 100_000 < BATCH or done == len(times):
                print(f"{done} dossiers, {events_total} events, "
                      f"{time.monotonic() - began:.0f} s", flush=True)
        with db.atomic():
            insert_rows(DossierSequence, [
                {"code": code, "day": day, "last": last}
                for (code, day), last in gen.sequences.items()])
            if is_postgres():
                for table in ("dossier", "dossier_event"):
                    db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'),"
                                   f" (SELECT MAX(id) FROM \"{table}\"))")
        loaded = time.monotonic()
        facts, unit_days = stat_facts.rebuild()  # as `run.py rebuild-statistics` does
        print(f"Statistics rebuilt from {facts} dossiers ({unit_days} unit-days) in "
              f"{time.monotonic() - loaded:.0f} s", flush=True)
        db.execute_sql("ANALYZE")
    print(f"Seeded {len(times)} dossiers ({busy_open} open in {args.busy_office}), "
          f"{events_total} events, {len(enterprises)} enterprises in "
          f"{time.monotonic() - began:.0f} s.")


if __name__ == "__main__":
    main()
