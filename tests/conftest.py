"""Fixtures: a fresh database per test (a SQLite file, or a fresh PostgreSQL schema when
DATABASE_URL names a PostgreSQL database), the app behind Starlette's test client, users."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# The jobs read their settings from the environment: keep them out of the checkout's data/.
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="portal-test-"))

import psycopg2  # noqa: E402
import pytest  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from portal.app import create_app  # noqa: E402
from portal.config import Settings  # noqa: E402
from portal.db import configure, db  # noqa: E402
from portal.migrations import migrate  # noqa: E402
from portal.queue import huey  # noqa: E402
from portal.services import accounts  # noqa: E402
from portal.services.seed import SEED_DIR, seed_catalogue  # noqa: E402
from portal.services.units import load_units  # noqa: E402
from tests.helpers import csrf_from  # noqa: E402
from tests.pki import TestPKI  # noqa: E402

# Property tests: modest example counts, no deadline (PostgreSQL is slower), no example database
# in the checkout; CI replays the same examples every run (HYPOTHESIS_PROFILE=thorough for more).
hypothesis_settings.register_profile(
    "portal",
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile("ci", parent=hypothesis_settings.get_profile("portal"),
                                     derandomize=True)
hypothesis_settings.register_profile("thorough", parent=hypothesis_settings.get_profile("portal"),
                                     max_examples=2000)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "portal"))

BASE_DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = BASE_DATABASE_URL.startswith(("postgres:", "postgresql:"))
PASSWORD = "correct-horse-42"
# Tests of the pages' markup (accessibility, structure, keyboard) do not depend on the
# database: CI runs them in the SQLite pass only, to keep its two passes short.
MARKUP_ONLY = pytest.mark.skipif(ON_POSTGRES, reason="markup is the same on every database")


def _pg_connect():
    from playhouse.db_url import parse

    return psycopg2.connect(**parse(BASE_DATABASE_URL))


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@contextmanager
def fresh_database(folder: Path) -> Iterator[str]:
    """The URL of an empty database of its own: a SQLite file in `folder`, or a new schema of
    the PostgreSQL database DATABASE_URL names (dropped afterwards)."""
    if not ON_POSTGRES:
        yield f"sqlite:///{folder / 'portal.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = _pg_connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in BASE_DATABASE_URL else "?"
    try:
        yield f"{BASE_DATABASE_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        if db.obj is not None:
            db.close_all()
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture(scope="session")
def pki() -> Iterator[TestPKI]:
    """The test run's PKI, its CRLs and OCSP served on loopback (tests/pki.py)."""
    built = TestPKI()
    yield built
    built.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, pki: TestPKI) -> Iterator[Settings]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    anchors = data_dir / "trust-anchors.pem"
    anchors.write_bytes(pki.anchors_pem)
    s = Settings.for_data_dir(data_dir, database_url=database_url, trust_anchors=anchors)
    configure(s)
    migrate()
    yield s
    db.close_all()


# Argon2id with its light test profile: the same code path, a fraction of the memory and time.
accounts.use_hasher(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))


@pytest.fixture
def job_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The jobs read Settings.from_env(): point it at the test's data directory."""
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    for name in ("PORTAL_UPLOAD_DIR", "PORTAL_OFFICE_HOURS", "PORTAL_SMTP_HOST",
                 "PORTAL_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    from portal import jobs

    jobs.settings.cache_clear()
    yield jobs.settings()
    jobs.settings.cache_clear()


@pytest.fixture(autouse=True)
def immediate_huey() -> Iterator[None]:
    huey.immediate = True
    yield
    huey.immediate = False


@pytest.fixture
def units(settings: Settings) -> None:
    load_units(SEED_DIR / "customs_departments.csv", "2016")
    load_units(SEED_DIR / "customs_units_2025.csv", "2025")


@pytest.fixture
def catalogue(settings: Settings) -> None:
    seed_catalogue()


@pytest.fixture
def app(settings: Settings, units: None, catalogue: None):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def make_user(settings: Settings, units: None) -> Callable[..., object]:
    counter = iter(range(1, 10_000))

    def make(role: str = "officer", **overrides: object):
        n = next(counter)
        data = {"username": f"{role}{n}", "full_name": f"Test {role} {n}", "role": role,
                "unit_code": "02CI" if role in ("officer", "leader") else "",
                "tax_code": "", "email": "", "clearance": "", "active": "1",
                "password": PASSWORD}
        if role == "enterprise":
            from portal.models import Enterprise

            with db.connection_context():
                if Enterprise.get_or_none(Enterprise.tax_code == "0100112437") is None:
                    Enterprise.create(tax_code="0100112437", name="Công ty A", email="a@example.vn")
            data["tax_code"] = "0100112437"
        data.update({k: str(v) for k, v in overrides.items()})
        return accounts.create_user(data)

    return make


@pytest.fixture
def signed_result(pki: TestPKI, make_user: Callable[..., object]) -> bytes:
    """A result PDF signed by the test PKI's leader, whose certificate an administrator
    registered for unit 02CI (the unit of make_user's officers and leaders)."""
    from portal.services import signers
    from portal.services.access import Ctx
    from tests.pki import make_pdf, sign_pdf

    signers.register(Ctx(user=make_user("admin")), "02CI", pki.leader.pem)
    return sign_pdf(make_pdf("Quyết định chấp thuận hủy tờ khai"), pki.leader, pki)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by playwright (browser tests only)."""
    from playwright.sync_api import sync_playwright

    from tests.live_server import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def login(client: TestClient) -> Callable[[object], TestClient]:
    def do(user) -> TestClient:
        token = csrf_from(client.get("/login").text)
        r = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                        "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client

    return do
