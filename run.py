#!/usr/bin/env python3
"""Command line of the customs online public-service portal.

    python3 run.py demo     install what is needed, then run the portal with demo data
    python3 run.py test     install what the tests need, then run the whole test suite
    python3 run.py --help   every command (serve, worker, migrate, seed-demo, ...)

`demo` and `test` work from a bare Python 3.11: outside a virtual environment they create
`.venv` here and re-run themselves inside it. Every other command expects the requirements to
be installed already (as `demo` does).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))
CHROMIUM = "/usr/bin/chromium"
CLAMD = "/usr/sbin/clamd"


# --- bootstrap (standard library only) -------------------------------------------------------


def _in_venv() -> bool:
    return sys.prefix != sys.base_prefix


def ensure_installed(requirements: str) -> None:
    """Make sure `requirements` is installed in a virtual environment and that this process
    runs inside it; outside one, create `.venv` and re-run this command in it."""
    if not _in_venv():
        env_dir = ROOT / ".venv"
        python = env_dir / "bin" / "python"
        if not python.exists():
            print(f"Creating a virtual environment in {env_dir} ...", flush=True)
            venv.EnvBuilder(with_pip=True).create(env_dir)
        os.execv(str(python), [str(python), str(ROOT / "run.py"), *sys.argv[1:]])
    wanted = hashlib.sha256()
    for name in ("requirements.txt", requirements):
        wanted.update((ROOT / name).read_bytes())
    stamp = Path(sys.prefix) / f".portal-{requirements}.sha256"
    if stamp.exists() and stamp.read_text() == wanted.hexdigest():
        return
    print(f"Installing {requirements} ...", flush=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-r",
            str(ROOT / requirements),
        ],
        check=True,
    )
    stamp.write_text(wanted.hexdigest())


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests when it is missing."""
    if not Path(CHROMIUM).exists():
        apt_install("chromium", f"The browser tests need {CHROMIUM}")


def ensure_java() -> None:
    """Install Debian's Java runtime for the HTML checker (vnu.jar) when it is missing."""
    if not shutil.which("java"):
        apt_install("default-jre-headless", "The HTML checker of the page tests needs Java")


def ensure_wrk() -> None:
    """Install Debian's wrk (the HTTP load tool bench/hot_path.py drives) when it is missing."""
    if not shutil.which("wrk"):
        apt_install("wrk", "The hot-path benchmark's test needs wrk")


def ensure_clamd() -> None:
    """Install Debian's ClamAV daemon for the virus-scan tests when it is missing (the tests
    start their own clamd with a test signature; no signature download is needed)."""
    if not Path(CLAMD).exists():
        apt_install("clamav-daemon", f"The virus-scan tests need {CLAMD}")


def apt_install(package: str, why: str) -> None:
    """Install Debian's `package` with apt-get (as root or through sudo); exit saying `why`
    when that is not possible."""
    sudo = [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else None)
    if sudo is None or not shutil.which("apt-get"):
        sys.exit(f"{why}: install Debian's '{package}' package.")
    print(f"Installing Debian's {package} ({why.lower()}) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", package], check=True, env=env)


def ensure_axe() -> None:
    """Install axe-core (tests/axe, pinned by its package-lock.json) for the accessibility
    tests, and Debian's npm first when it is missing."""
    axe_dir = ROOT / "tests" / "axe"
    script = axe_dir / "node_modules" / "axe-core" / "axe.min.js"
    lock = axe_dir / "package-lock.json"
    if script.exists() and script.stat().st_mtime >= lock.stat().st_mtime:
        return
    if not shutil.which("npm"):
        apt_install("npm", "The accessibility tests need npm")
    print("Installing axe-core for the accessibility tests ...", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=axe_dir, check=True)
    script.touch()  # npm keeps the package's own dates: mark it newer than the lock file


# --- commands -------------------------------------------------------------------------------


def settings():
    from portal.config import ConfigError, Settings

    try:
        return Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")


def cmd_migrate(args: argparse.Namespace) -> None:
    from portal.db import configure
    from portal.migrations import SchemaError, migrate

    configure(settings())
    try:
        before, after = migrate()
    except SchemaError as exc:
        sys.exit(str(exc))
    print(f"Schema version {before or 'none'} -> {after}.")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    from portal.db import configure
    from portal.migrations import migrate
    from portal.services.demo_dossiers import seed_dossiers
    from portal.services.demo_forms import seed_form_files
    from portal.services.seed import DEMO_PASSWORD, seed_demo

    conf = settings()
    configure(conf)
    migrate()
    counts = seed_demo()
    forms = seed_form_files(conf.uploads)
    made = seed_dossiers(conf)
    print(
        f"Seeded {counts['units']} units, {counts['procedures']} procedures "
        f"({forms} new demo form files), "
        f"{counts['accounts']} new demo accounts (password: {DEMO_PASSWORD}), "
        f"{counts['holidays']} new holidays and swapped working days, {made} demo dossiers."
    )


def _demo_trust(conf) -> None:
    """Demo mode only: the demo PKI (made in the data dir on first start) is the trust anchor,
    unless PORTAL_TRUST_ANCHORS names one; the web process and the worker read it from here."""
    from portal.services import demo_pki

    root = demo_pki.ensure(conf.data_dir)
    os.environ.setdefault("PORTAL_TRUST_ANCHORS", str(root))


def cmd_sign_demo_pdf(args: argparse.Namespace) -> None:
    from portal.services import demo_pki

    conf = settings()
    try:
        signed = demo_pki.sign(conf.data_dir, Path(args.input).read_bytes(), args.as_user)
    except KeyError:
        sys.exit(f"{args.as_user} has no demo certificate; one of: {', '.join(demo_pki.HOLDERS)}")
    except OSError as exc:
        sys.exit(str(exc))
    except Exception as exc:  # noqa: BLE001 - pyHanko's errors on a file that is not a PDF
        sys.exit(f"{args.input} could not be signed: {exc}")
    Path(args.output).write_bytes(signed)
    print(f"Signed {args.output} with the demo certificate of {args.as_user}.")


def _prepare(seed: bool) -> None:
    from portal.db import configure
    from portal.migrations import migrate
    from portal.services.demo_dossiers import seed_dossiers
    from portal.services.demo_forms import seed_form_files
    from portal.services.seed import DEMO_PASSWORD, is_seeded, seed_demo

    conf = settings()
    configure(conf)
    migrate()
    if seed:
        _demo_trust(conf)
    if seed and not is_seeded():
        counts = seed_demo()
        seed_form_files(conf.uploads)
        seed_dossiers(conf)
        print(f"First start: seeded {counts['procedures']} procedures and {counts['units']} units.")
        print(
            f"Demo accounts (password {DEMO_PASSWORD}): admin, canbo.02ci, lanhdao.02ci, "
            "kiemtra, doanhnghiep@example.vn",
            flush=True,
        )


WORKER_STOP_SECONDS = 30  # how long the worker may take to finish its current task


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """SIGTERM or SIGINT arrived while `serve` runs (uvicorn raises it again once its own
    shutdown is done)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum, frame) -> None:
    raise Stopped(signum)


def start_worker() -> subprocess.Popen:
    """The background worker as a child process in its own process group, so that a Ctrl+C
    in the terminal reaches only `serve`, which then stops the worker once, gracefully (a second
    SIGINT would make huey interrupt the task it is running)."""
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "worker"], process_group=0)


def stop_worker(worker: subprocess.Popen, timeout: float = WORKER_STOP_SECONDS) -> None:
    """SIGINT: huey's consumer finishes its current task and exits; killed after `timeout`,
    or at once on a second Ctrl+C."""
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGINT)
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"The worker did not stop within {timeout:.0f} s: killing it.", flush=True)
        worker.kill()
        worker.wait()
    except KeyboardInterrupt:
        worker.kill()
        worker.wait()
        raise


def cmd_serve(args: argparse.Namespace) -> None:
    """Run uvicorn (and the worker). SIGTERM or SIGINT: uvicorn stops taking connections and
    finishes the requests in flight, then the worker finishes its task and stops, then this
    process ends by the signal it got."""
    import uvicorn

    conf = settings()
    host, port = args.host or conf.host, args.port or conf.port
    _prepare(seed=not args.no_demo)
    worker = None
    # uvicorn handles both signals itself, then restores these handlers and raises the signal
    # again: with the default ones the process would die there (SIGTERM), leaving the worker
    # running, or uvicorn would swallow the KeyboardInterrupt (SIGINT).
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stopped)
    stopped_by = None
    try:
        if args.with_worker:
            worker = start_worker()
        print(f"The portal runs at http://{host}:{port}  (Ctrl+C stops it)", flush=True)
        uvicorn.run(
            "portal.asgi:app",
            host=host,
            port=port,
            workers=args.workers,
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
            log_level="info",
            app_dir=str(ROOT / "src"),
        )
    except Stopped as stop:
        stopped_by = stop.signum
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping the worker is not cut short
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl+C kills it
        if worker is not None:
            stop_worker(worker)
        for child in getattr(args, "children", ()):  # demo: the sandbox payment gateway
            stop_child(child)
    if stopped_by is not None:  # end as the signal would have ended the process
        signal.signal(stopped_by, signal.SIG_DFL)
        signal.raise_signal(stopped_by)


SANDBOX_SECRETS = "sandbox_gateway_secrets"  # in the data directory: the demo's own


def demo_gateways(host: str, port: int, sandbox_port: int) -> dict[str, str]:
    """The settings that point the demo portal at its sandbox gateway, for both protocols, with
    secrets generated once for this data directory (never constants). A deployment that sets
    PORTAL_PAYMENT_GATEWAYS keeps its own."""
    import secrets

    from portal.config import ROOT as PORTAL_ROOT

    data_dir = Path(os.environ.get("PORTAL_DATA_DIR") or PORTAL_ROOT / "data")
    path = data_dir / SANDBOX_SECRETS
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{secrets.token_hex(32)}\n{secrets.token_hex(32)}\n")
    vnpay_secret, national_secret = path.read_text().split()[:2]
    sandbox = f"http://{host}:{sandbox_port}"
    return {
        "PORTAL_BASE_URL": os.environ.get("PORTAL_BASE_URL") or f"http://{host}:{port}",
        "PORTAL_PAYMENT_GATEWAYS": "vnpay,national",
        "PORTAL_VNPAY_URL": f"{sandbox}/vnpay/paymentv2/vpcpay.html",
        "PORTAL_VNPAY_TMN_CODE": "DEMO0001",
        "PORTAL_VNPAY_SECRET": vnpay_secret,
        "PORTAL_NATIONAL_PAY_URL": f"{sandbox}/national",
        "PORTAL_NATIONAL_PAY_MERCHANT": "HQ-DEMO",
        "PORTAL_NATIONAL_PAY_SECRET": national_secret,
    }


def start_sandbox(host: str, port: int) -> subprocess.Popen:
    """The sandbox payment gateway as a child process in its own process group (as the
    worker: `serve` stops it once)."""
    command = [sys.executable, str(ROOT / "run.py"), "sandbox-gateway", "--host", host]
    return subprocess.Popen([*command, "--port", str(port)], process_group=0)


def cmd_demo(args: argparse.Namespace) -> None:
    args.with_worker, args.no_demo = True, False
    sandbox = None
    if not os.environ.get("PORTAL_PAYMENT_GATEWAYS"):  # a new user can pay in the demo
        host = args.host or os.environ.get("PORTAL_HOST") or "127.0.0.1"
        port = args.port or int(os.environ.get("PORTAL_PORT") or 8000)
        sandbox_port = args.sandbox_port or port + 1
        os.environ.update(demo_gateways(host, port, sandbox_port))
        sandbox = start_sandbox(host, sandbox_port)
        print(f"The sandbox payment gateway runs at http://{host}:{sandbox_port}", flush=True)
    args.children = [sandbox] if sandbox is not None else []
    cmd_serve(args)


def stop_child(child: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout`."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def cmd_sandbox_gateway(args: argparse.Namespace) -> None:
    """Run the sandbox payment gateway (both protocols) with the portal's merchant settings."""
    import uvicorn

    from portal.sandbox_gateway import SandboxConfig, create_sandbox

    config = SandboxConfig.from_env()
    if not (config.vnpay_secret or config.national_secret):
        sys.exit(
            "Set PORTAL_VNPAY_TMN_CODE and PORTAL_VNPAY_SECRET, or PORTAL_NATIONAL_PAY_MERCHANT "
            "and PORTAL_NATIONAL_PAY_SECRET, as the portal has them."
        )
    print(f"The sandbox payment gateway runs at http://{args.host}:{args.port}", flush=True)
    uvicorn.run(create_sandbox(config), host=args.host, port=args.port, log_level="warning")


def cmd_worker(args: argparse.Namespace) -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from huey.consumer_options import ConsumerConfig

    import tasks

    config = ConsumerConfig(workers=args.workers, worker_type="thread", periodic=True)
    config.validate()
    config.setup_logger()
    tasks.huey.create_consumer(**config.values).run()


def cmd_test(args: argparse.Namespace) -> None:
    ensure_chromium()
    ensure_clamd()
    ensure_java()
    ensure_wrk()
    ensure_axe()
    os.chdir(ROOT)
    database = os.environ.get("DATABASE_URL", "") or "SQLite (a fresh file per test)"
    print(f"Running the test suite on {database.split('@')[-1]}", flush=True)
    # One pytest worker per core; a test module stays on one worker, so its browser and
    # module-wide fixtures are built once.
    parallel = ["-n", "auto", "--dist", "loadfile"]
    code = subprocess.call([sys.executable, "-m", "pytest", *parallel, *args.pytest_args])
    sys.exit(code)


def cmd_import_procedures(args: argparse.Namespace) -> None:
    from portal.db import configure
    from portal.i18n import translate
    from portal.migrations import migrate
    from portal.services.catalogue_files import CatalogueFileError, import_catalogue

    path = Path(args.file)
    if not path.is_file():
        sys.exit(f"No such file: {path}")
    fmt = "json" if path.suffix.lower() == ".json" else "csv"
    configure(settings())
    migrate()
    try:
        count = import_catalogue(path.read_bytes(), fmt)
    except CatalogueFileError as exc:
        for number, field, message in exc.problems:
            print(f"record {number}, {field}: {translate(message)}", file=sys.stderr)
        sys.exit("Nothing was imported.")
    print(f"Imported {count} procedures from {path}.")


def cmd_sync_catalogue(args: argparse.Namespace) -> None:
    from portal.db import configure
    from portal.i18n import translate
    from portal.migrations import check_schema
    from portal.services.catalogue_files import CatalogueFileError
    from portal.services.catalogue_sync import apply, dry_run

    path = Path(args.file)
    if not path.is_file():
        sys.exit(f"No such file: {path}")
    fmt = "json" if path.suffix.lower() == ".json" else "csv"
    configure(settings())
    check_schema()
    try:
        plan = (dry_run if args.dry_run else apply)(path.read_bytes(), fmt)
    except CatalogueFileError as exc:
        for number, field, message in exc.problems:
            print(f"record {number}, {field}: {translate(message)}", file=sys.stderr)
        sys.exit("Nothing was changed.")
    for change in plan.changes:
        print(f"{change.code} {change.what}: {change.before!r} -> {change.after!r}")
    for code in plan.unknown:
        print(f"{code}: not in the portal's catalogue (not added)")
    verb = "Would change" if args.dry_run else "Changed"
    print(
        f"{verb} {plan.procedures} of {plan.records} procedures ({len(plan.changes)} changes); "
        f"{len(plan.unknown)} codes unknown here, {len(plan.missing)} of the portal's codes "
        "not in the file."
    )


def cmd_export_procedures(args: argparse.Namespace) -> None:
    from portal.db import configure
    from portal.migrations import check_schema
    from portal.services.catalogue_files import export_catalogue

    path = Path(args.file)
    fmt = "json" if path.suffix.lower() == ".json" else "csv"
    configure(settings())
    check_schema()
    path.write_text(export_catalogue(fmt), encoding="utf-8")
    print(f"Exported the catalogue to {path} ({fmt.upper()}).")


def cmd_rebuild_statistics(args: argparse.Namespace) -> None:
    import time

    from portal.db import configure
    from portal.migrations import check_schema
    from portal.services.stat_facts import rebuild

    configure(settings())
    check_schema()
    began = time.monotonic()
    facts, days = rebuild()
    print(
        f"The statistics were rebuilt from {facts} dossiers ({days} unit-days) in "
        f"{time.monotonic() - began:.0f} s."
    )


def cmd_load_units(args: argparse.Namespace) -> None:
    from portal.db import configure
    from portal.migrations import migrate
    from portal.services.units import load_units

    configure(settings())
    migrate()
    try:
        count = load_units(Path(args.file), args.structure)
    except (OSError, ValueError, KeyError) as exc:
        sys.exit(f"Units not loaded: {exc}")
    print(f"Loaded {count} units ({args.structure} structure).")


def cmd_verify_history(args: argparse.Namespace) -> None:
    import time

    from portal.db import configure
    from portal.migrations import check_schema
    from portal.services import history_verify

    configure(settings())
    check_schema()
    began = last = time.monotonic()
    first = None

    def progress(checked: int, total: int) -> None:
        nonlocal first, last
        now = time.monotonic()
        first = checked if first is None else first
        if now - last >= args.progress_every or checked >= total:
            last = now
            rate = (checked - first) / max(now - began, 1e-9)
            share = f" ({100 * checked / total:.1f}%)" if total else ""
            print(f"verify-history: {checked:,} of {total:,} events{share}, {rate:,.0f} "
                  "events/s", file=sys.stderr, flush=True)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # `kill` as Ctrl-C: the checkpoint is saved
    try:
        report = history_verify.run(jobs=args.jobs, resume=args.resume, progress=progress,
                                    checkpoint_every=args.checkpoint_every)
    except KeyboardInterrupt:
        cp = history_verify.checkpoint()
        where = f" after {cp.checked:,} events" if cp else ""
        sys.exit(f"Interrupted; a checkpoint is saved{where}: --resume goes on from there.")
    checked, broken, problem = report.verdict
    after = ""
    if report.resumed_from is not None:
        cp = report.resumed_from
        after = (f" ({checked - cp.checked} after the checkpoint of "
                 f"{cp.created_at:%Y-%m-%d %H:%M} UTC at event {cp.last_id})")
    elif args.resume:
        after = " (there was no checkpoint: from the first event)"
    if problem:
        where = f"event {broken}" if broken else "the end of the chain"
        sys.exit(
            f"The processing history is BROKEN at {where}: {problem} ({checked} events "
            f"checked{after})."
        )
    print(f"The processing history is intact: {checked} events checked{after}.")


def cmd_backup(args: argparse.Namespace) -> None:
    from portal.backup import BackupError, create_backup, summary

    try:
        path, manifest, warnings = create_backup(settings(), args.output)
    except (BackupError, OSError) as exc:
        sys.exit(f"No backup was made: {exc}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    secret = "with" if manifest["secret_key"] else "without"
    print(f"Backup written to {path}: {summary(manifest)}, {secret} the secret key.")
    print("The history key is not in the archive: keep a copy of it apart (README: History key).")
    if os.environ.get("PORTAL_SECRET_KEY"):
        print("PORTAL_SECRET_KEY is set: it is the key in use, keep its value apart.")
    print("It holds personal data: keep it where only the portal's operators can read it.")


def cmd_restore(args: argparse.Namespace) -> None:
    from portal.backup import BackupError, summary
    from portal.config import ConfigError, Settings
    from portal.restore import PartialRestore, restore_backup

    # The archive brings its own secret key: keep from_env from generating one in the target.
    env = {**os.environ, "PORTAL_SECRET_KEY": "not-used-by-restore"}
    if args.data_dir:
        env["PORTAL_DATA_DIR"] = args.data_dir
    try:
        conf = Settings.from_env(env, create_history_key=False)  # it must be the original's
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")
    try:
        manifest, problems = restore_backup(Path(args.archive), conf)
    except PartialRestore as exc:
        sys.exit(str(exc))
    except (BackupError, OSError) as exc:
        sys.exit(f"Nothing was restored: {exc}")
    if problems:
        print("The restored data does NOT match the archive:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(f"Inspect {conf.data_dir}, then empty it and the database before trying again.")
    from portal.migrations import KEYED_HISTORY

    checked = "every count, file hash and the history chain check out"
    if manifest["schema_version"] < KEYED_HISTORY:
        checked = "every count and file hash check out (run migrate, then verify-history)"
    print(
        f"Restored {args.archive} (made {manifest['created_at']}) into {conf.data_dir}: "
        f"{summary(manifest)}; {checked}."
    )
    if not manifest["secret_key"]:
        print("The archive has no secret key: set PORTAL_SECRET_KEY as the old instance had it.")


def cmd_create_user(args: argparse.Namespace) -> None:
    from portal.db import configure
    from portal.i18n import translate
    from portal.migrations import migrate
    from portal.services.accounts import create_user
    from portal.services.errors import ValidationError

    configure(settings())
    migrate()
    data = {
        "username": args.username,
        "password": args.password,
        "role": args.role,
        "unit_code": args.unit or "",
        "tax_code": args.tax_code or "",
        "full_name": args.full_name or args.username,
        "email": args.email or "",
        "clearance": "1" if args.clearance else "",
        "active": "1",
    }
    try:
        user = create_user(data)
    except ValidationError as exc:
        for field, message in exc.errors.items():
            option = {"unit_code": "unit", "tax_code": "tax-code"}.get(
                field, field.replace("_", "-")
            )
            print(f"--{option}: {translate(message)}", file=sys.stderr)
        sys.exit("The account was not created.")
    print(f"Created {user.role} account {user.username}.")


def parser() -> argparse.ArgumentParser:
    from portal.models import ROLES, STRUCTURES

    p = argparse.ArgumentParser(
        prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def serve_options(s: argparse.ArgumentParser) -> None:
        s.add_argument("--host", help="address to bind (default PORTAL_HOST or 127.0.0.1)")
        s.add_argument("--port", type=int, help="port (default PORTAL_PORT or 8000)")
        s.add_argument("--workers", type=int, default=1, help="web worker processes (default 1)")
        s.add_argument(
            "--forwarded-allow-ips",
            default="127.0.0.1",
            help="proxies trusted for X-Forwarded-For (default 127.0.0.1)",
        )

    s = sub.add_parser(
        "demo",
        help="install the requirements and run the portal with demo data and its background worker",
    )
    serve_options(s)
    s.add_argument(
        "--sandbox-port", type=int, help="port of the sandbox payment gateway (default port + 1)"
    )
    s.set_defaults(func=cmd_demo)
    s = sub.add_parser("serve", help="run the web server (migrates the schema first)")
    serve_options(s)
    s.add_argument("--with-worker", action="store_true", help="also run the background worker")
    s.add_argument(
        "--no-demo", action="store_true", help="do not seed demo data on first start (production)"
    )
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser(
        "sandbox-gateway",
        help="run the sandbox payment gateway (national platform and VNPay protocols) for "
        "development and tests",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    s.set_defaults(func=cmd_sandbox_gateway)
    s = sub.add_parser("worker", help="run the background worker (huey consumer)")
    s.add_argument("--workers", type=int, default=2, help="worker threads (default 2)")
    s.set_defaults(func=cmd_worker)
    s = sub.add_parser(
        "test",
        help="install the test requirements and run the test suite; "
        "arguments after -- go to pytest",
    )
    s.add_argument("pytest_args", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_test)
    s = sub.add_parser("migrate", help="create or upgrade the database schema")
    s.set_defaults(func=cmd_migrate)
    s = sub.add_parser("seed-demo", help="load units, the catalogue and demo accounts")
    s.set_defaults(func=cmd_seed_demo)
    s = sub.add_parser(
        "sign-demo-pdf",
        help="sign a PDF with a demo user's certificate of the demo PKI (demo only)",
    )
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--as", dest="as_user", required=True,
                   help="lanhdao.02ci (results of 02CI) or doanhnghiep@example.vn (documents)")
    s.set_defaults(func=cmd_sign_demo_pdf)
    s = sub.add_parser("import-procedures", help="import procedures from a CSV or JSON file")
    s.add_argument("file")
    s.set_defaults(func=cmd_import_procedures)
    s = sub.add_parser(
        "sync-catalogue",
        help="update names, levels and time limits from the national catalogue's export",
    )
    s.add_argument("file", help="the export, .csv or .json (see README: Catalogue sync)")
    s.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    s.set_defaults(func=cmd_sync_catalogue)
    s = sub.add_parser("export-procedures", help="export the catalogue to a .csv or .json file")
    s.add_argument("file")
    s.set_defaults(func=cmd_export_procedures)
    s = sub.add_parser(
        "rebuild-statistics",
        help="recount the statistics' maintained counts from the dossiers (after a bulk load)",
    )
    s.set_defaults(func=cmd_rebuild_statistics)
    s = sub.add_parser("load-units", help="load a unit tree from a CSV file")
    s.add_argument("file")
    s.add_argument(
        "--structure", required=True, help=f"the structure's code, e.g. {', '.join(STRUCTURES)}"
    )
    s.set_defaults(func=cmd_load_units)
    s = sub.add_parser(
        "verify-history",
        help="check the hash chain of the processing history and name the first broken event",
    )
    s.add_argument("--jobs", type=int, default=None,
                   help="processes that check hashes at once (default: one per core)")
    s.add_argument("--resume", action="store_true",
                   help="start after the last checkpoint (a run that was interrupted or ended)")
    s.add_argument("--checkpoint-every", type=int, default=1_000_000, metavar="N",
                   help="save a checkpoint every N events checked (default 1,000,000)")
    s.add_argument("--progress-every", type=float, default=5.0, metavar="SECONDS",
                   help="print progress to stderr this often (default 5)")
    s.set_defaults(func=cmd_verify_history)
    s = sub.add_parser(
        "backup",
        help="write the database, uploaded files and secret key to one archive (while running)",
    )
    s.add_argument(
        "--output",
        type=Path,
        help="archive to write (default <data dir>/backups/portal-<time>.tar)",
    )
    s.set_defaults(func=cmd_backup)
    s = sub.add_parser(
        "restore", help="restore an archive of `backup` into an empty data directory and database"
    )
    s.add_argument("archive")
    s.add_argument("--data-dir", help="data directory to restore into (default PORTAL_DATA_DIR)")
    s.set_defaults(func=cmd_restore)
    s = sub.add_parser("create-user", help="create an account of any role")
    s.add_argument("--username", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--role", required=True, choices=ROLES)
    s.add_argument(
        "--unit", help="unit (officers, leaders): a code of today's structure, or STRUCTURE:CODE"
    )
    s.add_argument("--tax-code", help="enterprise tax code (enterprise users)")
    s.add_argument("--full-name")
    s.add_argument("--email")
    s.add_argument("--clearance", action="store_true", help="may see confidential documents")
    s.set_defaults(func=cmd_create_user)
    from portal import api_cli

    api_cli.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["demo"], ["test"]):
        # These two install the requirements first, so they must not import them before.
        ensure_installed("requirements-dev.txt" if argv[0] == "test" else "requirements.txt")
    try:
        cli = parser()
    except ImportError as exc:
        sys.exit(
            f"{exc}: the requirements are not installed here. Run `python3 run.py demo` "
            "once, then use .venv/bin/python run.py ..."
        )
    args = cli.parse_args(argv)
    if args.command == "test" and args.pytest_args[:1] == ["--"]:
        args.pytest_args = args.pytest_args[1:]
    if isinstance(args.func, str):  # the API's commands (src/portal/api_cli.py)
        from portal import api_cli

        getattr(api_cli, args.func)(args, settings())
        return
    args.func(args)


if __name__ == "__main__":
    main()
