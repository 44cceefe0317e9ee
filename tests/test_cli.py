"""The command line (run.py), run as a real process against the test's database."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import run
from portal.config import Settings
from portal.db import configure, db
from portal.migrations import LATEST, check_schema, current_version
from portal.models import (
    Attachment,
    DocumentSignature,
    OutgoingMail,
    Procedure,
    ProcessingTime,
    RequiredDocument,
    Unit,
    User,
)
from portal.services.catalogue_files import export_catalogue
from portal.services.download_links import DownloadLinks
from portal.services.seed import DEMO_ENTERPRISE
from portal.services.signatures import Trust, verify
from tests.pki import make_pdf
from tests.test_download_links import LINK_RE

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(tmp_path: Path, database_url: str):
    """Run `run.py ARGS...` on the test's database; returns the CompletedProcess."""
    env = {**os.environ, "PORTAL_DATA_DIR": str(tmp_path / "cli-data"),
           "DATABASE_URL": database_url, "PYTHONIOENCODING": "utf-8"}
    env.pop("PORTAL_SECRET_KEY", None)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    return call


@pytest.fixture
def settings_empty(tmp_path: Path, database_url: str):
    """The test's database, bound in this process but with no schema yet."""
    configure(Settings.for_data_dir(tmp_path / "data", database_url=database_url))
    with db.connection_context():
        assert current_version() is None
    yield
    db.close_all()


def test_migrate(cli, settings_empty):
    result = cli("migrate")
    assert result.returncode == 0, result.stderr
    assert f"Schema version none -> {LATEST}." in result.stdout
    check_schema()


def test_seed_demo(cli, settings_empty, tmp_path, database_url):
    result = cli("seed-demo")
    assert result.returncode == 0, result.stderr
    assert "189 procedures" in result.stdout
    with db.connection_context():
        assert Procedure.select().count() == 189
        # 02CI twice: the 2016 branch and the 2025 office that kept its code
        assert Unit.select().where(Unit.code.in_(["TCHQ", "CHQ", "02CI"])).count() == 4
        admin = User.get(User.username == "admin")
        assert admin.role == "admin" and admin.password_hash.startswith("$argon2id$")
        assert User.get(User.username == "canbo.02ci").unit.ref == "2025:02CI"
        mails = [m.body for m in OutgoingMail.select().where(
            OutgoingMail.to_addr == "doanhnghiep@example.vn").order_by(OutgoingMail.id)]
    # The demo dossiers' e-mails carry links signed with the demo's own key, as the web's do.
    links = DownloadLinks.of(Settings.for_data_dir(tmp_path / "cli-data",
                                                   database_url=database_url))
    found = [m.group(1) for body in mails for m in LINK_RE.finditer(body)]
    kinds = {path.split("?")[0].split("/")[3] for path in found}
    assert {"receipt", "slips", "files"} <= kinds
    for path in found:
        target = links.read(path.split("?t=")[1])
        assert target is not None and target.path == path.split("?")[0]


def test_seed_demo_returns_a_result_signed_with_the_demo_pki(cli, settings_empty, tmp_path):
    assert cli("seed-demo").returncode == 0
    root = tmp_path / "cli-data" / "demo-pki" / "root.pem"
    with db.connection_context():
        signature = DocumentSignature.select().join(Attachment).where(
            Attachment.purpose == "result").get()
        assert signature.registered_signer.unit.ref == "2025:02CI"
        assert signature.signer_name == "Lê Minh Châu (demo)"
        assert Procedure.get(Procedure.code == "2.002322").requires_signature
    # A demo user signs a PDF; the demo PKI's root verifies it and its certificate names the
    # demo enterprise's tax code.
    plain = tmp_path / "don.pdf"
    plain.write_bytes(make_pdf("Đơn đề nghị (demo)"))
    signed = tmp_path / "don-da-ky.pdf"
    result = cli("sign-demo-pdf", str(plain), str(signed), "--as", "doanhnghiep@example.vn")
    assert result.returncode == 0, result.stderr
    verdict = verify(signed.read_bytes(), Trust.load(root))
    assert verdict.ok and verdict.tax_code == DEMO_ENTERPRISE[0]
    result = cli("sign-demo-pdf", str(plain), str(signed), "--as", "canbo.02ci")
    assert result.returncode == 1 and "no demo certificate" in result.stderr
    result = cli("sign-demo-pdf", str(root), str(signed), "--as", "lanhdao.02ci")
    assert result.returncode == 1 and "could not be signed" in result.stderr


def test_create_user(cli, units):
    result = cli("create-user", "--username", "canbo.moi", "--password", "mat-khau-tot-2026",
                 "--role", "officer", "--unit", "02CI", "--full-name", "Cán bộ Mới",
                 "--clearance")
    assert result.returncode == 0, result.stderr
    assert "Created officer account canbo.moi." in result.stdout
    with db.connection_context():
        user = User.get(User.username == "canbo.moi")
        assert (user.full_name, user.unit.code, user.clearance) == ("Cán bộ Mới", "02CI", True)
        assert "mat-khau-tot-2026" not in user.password_hash


def test_create_user_with_an_unknown_role(cli, settings):
    result = cli("create-user", "--username", "x.y.z", "--password", "mat-khau-tot-2026",
                 "--role", "superuser")
    assert result.returncode == 2
    assert "invalid choice: 'superuser'" in result.stderr
    with db.connection_context():
        assert not User.select().exists()


@pytest.mark.parametrize(("args", "option"), [
    (["--role", "officer", "--password", "mat-khau-tot-2026"], "--unit:"),
    (["--role", "admin", "--password", "short"], "--password:"),
])
def test_create_user_refusals_name_the_option(cli, units, args, option):
    result = cli("create-user", "--username", "canbo.moi", *args)
    assert result.returncode == 1
    assert option in result.stderr
    assert "The account was not created." in result.stderr
    with db.connection_context():
        assert not User.select().exists()


def test_create_user_names_the_tax_code_option(cli, settings):
    result = cli("create-user", "--username", "dn.moi", "--password", "mat-khau-tot-2026",
                 "--role", "enterprise")
    assert result.returncode == 1
    assert "--tax-code:" in result.stderr


def test_export_then_import_procedures_round_trip(cli, catalogue, tmp_path):
    out = tmp_path / "out.csv"
    result = cli("export-procedures", str(out))
    assert result.returncode == 0, result.stderr
    exported = out.read_text(encoding="utf-8")
    assert exported == export_catalogue("csv")
    with db.connection_context(), db.atomic():
        ProcessingTime.delete().execute()
        RequiredDocument.delete().execute()
        Procedure.delete().execute()
    result = cli("import-procedures", str(out))
    assert result.returncode == 0, result.stderr
    assert "Imported 189 procedures" in result.stdout
    assert export_catalogue("csv") == exported


def test_import_of_a_missing_file(cli, settings, tmp_path):
    result = cli("import-procedures", str(tmp_path / "nowhere.csv"))
    assert result.returncode != 0
    assert "No such file" in result.stderr


def test_import_of_a_bad_file_names_the_record_and_imports_nothing(cli, settings, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"code": "1.000001", "name": "Một", "field": "Hải quan", '
                   '"online_level": 4}, {"code": "oops", "name": "Hai", "field": "Hải quan", '
                   '"online_level": 4}]', encoding="utf-8")
    result = cli("import-procedures", str(bad))
    assert result.returncode == 1
    assert "record 2, code:" in result.stderr
    assert "Nothing was imported." in result.stderr
    with db.connection_context():
        assert not Procedure.select().exists()


def test_top_level_help(cli):
    result = cli("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "seed-demo", "import-procedures",
                    "export-procedures", "load-units", "create-user"):
        assert command in result.stdout


def subcommands() -> list[str]:
    sub = next(a for a in run.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_the_documented_subcommands_exist():
    assert set(subcommands()) >= {"demo", "serve", "worker", "test", "migrate", "seed-demo",
                                  "import-procedures", "export-procedures", "load-units",
                                  "create-user"}


@pytest.mark.parametrize("command", subcommands())
def test_help_of_each_subcommand(command, capsys):
    # In process: the parser is what `run.py COMMAND --help` runs, without the bootstrap.
    with pytest.raises(SystemExit) as exc:
        run.parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert f"usage: run.py {command}" in capsys.readouterr().out


def test_the_sandbox_gateway_needs_the_merchants_secrets(cli):
    result = cli("sandbox-gateway", "--port", "1")
    assert result.returncode == 1
    assert "PORTAL_VNPAY_SECRET" in result.stderr
