"""Settings read from the environment, with safe defaults (see the README's table)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("vi", "en")


class ConfigError(ValueError):
    """A setting has a value the portal cannot use; the message names it."""


def load_or_create_secret(data_dir: Path) -> str:
    """Return the secret kept in `data_dir/secret_key`, generating it (mode 0600) on first use."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret


HISTORY_KEY_FILE = "history_key"


def parse_history_keys(text: str) -> tuple[str, ...]:
    """Keys separated by commas or new lines, the current one first; blanks are ignored."""
    return tuple(k.strip() for k in re.split(r"[,\n]", text) if k.strip())


def load_or_create_history_keys(data_dir: Path) -> tuple[str, ...]:
    """The history keys kept in `data_dir/history_key` (one a line, the current one first),
    generating one key (mode 0600) on first use."""
    path = data_dir / HISTORY_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48) + "\n")
    keys = parse_history_keys(path.read_text())
    if not keys:
        raise ConfigError(f"{path} holds no history key")
    return keys


def _history_keys(env: Mapping[str, str], data_dir: Path, create: bool) -> tuple[str, ...]:
    raw = env.get("PORTAL_HISTORY_KEY", "")
    if not raw:
        if not create and not (data_dir / HISTORY_KEY_FILE).exists():
            return ()
        return load_or_create_history_keys(data_dir)
    keys = parse_history_keys(raw)
    if not keys or any(len(k) < 32 for k in keys):
        raise ConfigError("PORTAL_HISTORY_KEY must hold keys of at least 32 characters")
    return keys


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _office_hours(value: str) -> str:
    if value:
        from portal.services.deadlines import parse_hours

        try:
            parse_hours(value)
        except ValueError as exc:
            raise ConfigError(f"PORTAL_OFFICE_HOURS: {exc}") from None
    return value


PAYMENT_GATEWAYS = ("national", "vnpay")
MIN_GATEWAY_SECRET = 16
# Per gateway: (address variable, merchant code variable, secret variable).
GATEWAY_VARIABLES = {
    "vnpay": ("PORTAL_VNPAY_URL", "PORTAL_VNPAY_TMN_CODE", "PORTAL_VNPAY_SECRET"),
    "national": (
        "PORTAL_NATIONAL_PAY_URL",
        "PORTAL_NATIONAL_PAY_MERCHANT",
        "PORTAL_NATIONAL_PAY_SECRET",
    ),
}


def _gateways(env: Mapping[str, str]) -> tuple[tuple[str, str, str, str], ...]:
    """The payment gateways PORTAL_PAYMENT_GATEWAYS names, each as (name, address, merchant
    code, secret); raises ConfigError naming what is missing. A secret is never defaulted."""
    names = [n.strip() for n in env.get("PORTAL_PAYMENT_GATEWAYS", "").split(",") if n.strip()]
    out = []
    for name in dict.fromkeys(names):
        if name not in PAYMENT_GATEWAYS:
            raise ConfigError(
                f"PORTAL_PAYMENT_GATEWAYS: {name!r} is not one of {', '.join(PAYMENT_GATEWAYS)}"
            )
        url_var, code_var, secret_var = GATEWAY_VARIABLES[name]
        url, code, secret = (env.get(v, "").strip() for v in GATEWAY_VARIABLES[name])
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"{url_var} must be the gateway's http(s) address")
        if not code:
            raise ConfigError(f"{code_var} must be set for the {name} gateway")
        if len(secret) < MIN_GATEWAY_SECRET:
            raise ConfigError(f"{secret_var} must hold at least {MIN_GATEWAY_SECRET} characters")
        out.append((name, url, code, secret))
    return tuple(out)


# The claims of the national identity the portal reads, by role: (role, default claim name).
NATIONAL_ID_CLAIMS = (
    ("type", "account_type"),  # 1 citizen, 2 enterprise, 3 organisation
    ("id_number", "id_number"),  # a citizen's 12-digit ID number
    ("tax_code", "tax_code"),  # an enterprise's or organisation's tax code
    ("name", "name"),
    ("level", "assurance_level"),
    ("email", "email"),
)


def _national_id(env: Mapping[str, str]) -> dict[str, object]:
    """The national identity provider's settings (PORTAL_NATIONAL_ID_*); raises ConfigError.
    An empty discovery URL turns single sign-on off."""
    discovery = env.get("PORTAL_NATIONAL_ID_DISCOVERY_URL", "").strip()
    claims = dict(NATIONAL_ID_CLAIMS)
    for pair in env.get("PORTAL_NATIONAL_ID_CLAIMS", "").split(","):
        if not pair.strip():
            continue
        role, _, name = pair.partition("=")
        if role.strip() not in claims or not name.strip():
            raise ConfigError(
                f"PORTAL_NATIONAL_ID_CLAIMS: {pair.strip()!r} is not role=claim with a role "
                f"among {', '.join(claims)}"
            )
        claims[role.strip()] = name.strip()
    values: dict[str, object] = {
        "national_id_discovery_url": discovery,
        "national_id_client_id": env.get("PORTAL_NATIONAL_ID_CLIENT_ID", "").strip(),
        "national_id_client_secret": env.get("PORTAL_NATIONAL_ID_CLIENT_SECRET", "").strip(),
        "national_id_scopes": env.get("PORTAL_NATIONAL_ID_SCOPES", "").strip() or "openid profile",
        "national_id_claims": tuple(claims.items()),
        "national_id_min_level": _int(env, "PORTAL_NATIONAL_ID_MIN_LEVEL", 2, 0),
    }
    if discovery:
        if not discovery.startswith(("https://", "http://")):
            raise ConfigError("PORTAL_NATIONAL_ID_DISCOVERY_URL must be an http(s) address")
        if not values["national_id_client_id"] or not values["national_id_client_secret"]:
            raise ConfigError(
                "PORTAL_NATIONAL_ID_CLIENT_ID and PORTAL_NATIONAL_ID_CLIENT_SECRET must be set "
                "with PORTAL_NATIONAL_ID_DISCOVERY_URL"
            )
        if "openid" not in str(values["national_id_scopes"]).split():
            raise ConfigError("PORTAL_NATIONAL_ID_SCOPES must include openid")
    return values


@dataclass(frozen=True)
class NationalSync:
    """Where and how status changes are pushed to the National Public Service Portal
    (services/national_delivery.py); `url` empty: the sync is off."""

    url: str = ""
    client_id: str = ""
    secret: str = ""
    timeout: float = 10.0
    max_attempts: int = 8
    retry_seconds: int = 30

    @property
    def enabled(self) -> bool:
        return bool(self.url)


def _national_sync(env: Mapping[str, str]) -> NationalSync:
    """The status sync's settings; raises ConfigError when the address is set without a
    client id or a secret of at least 16 characters (a secret is never defaulted)."""
    url = env.get("PORTAL_NATIONAL_SYNC_URL", "").strip().rstrip("/")
    timeout = _int(env, "PORTAL_NATIONAL_SYNC_TIMEOUT", 10, 1)
    attempts = _int(env, "PORTAL_NATIONAL_SYNC_MAX_ATTEMPTS", 8, 1)
    retry = _int(env, "PORTAL_NATIONAL_SYNC_RETRY_SECONDS", 30, 1)
    if not url:
        return NationalSync(timeout=timeout, max_attempts=attempts, retry_seconds=retry)
    if not url.startswith(("https://", "http://")):
        raise ConfigError("PORTAL_NATIONAL_SYNC_URL must be the receiver's http(s) address")
    client = env.get("PORTAL_NATIONAL_SYNC_CLIENT", "").strip()
    secret = env.get("PORTAL_NATIONAL_SYNC_SECRET", "").strip()
    if not client:
        raise ConfigError("PORTAL_NATIONAL_SYNC_CLIENT must be set with PORTAL_NATIONAL_SYNC_URL")
    if len(secret) < MIN_GATEWAY_SECRET:
        raise ConfigError(
            f"PORTAL_NATIONAL_SYNC_SECRET must hold at least {MIN_GATEWAY_SECRET} characters"
        )
    return NationalSync(url, client, secret, float(timeout), attempts, retry)


@dataclass(frozen=True)
class Settings:
    secret_key: str
    data_dir: Path
    database_url: str
    history_keys: tuple[str, ...] = ()  # the first hashes new history events
    redis_url: str | None = None
    upload_dir: Path | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    max_files_per_dossier: int = 20
    max_reserved_bytes: int = 200 * 1024 * 1024  # what a user's unfinished uploads may take
    host: str = "127.0.0.1"
    port: int = 8000
    default_language: str = "vi"
    secure_cookies: bool = False
    session_idle_minutes: int = 120
    session_absolute_hours: int = 12
    office_hours: str = ""  # "07:00-11:30,13:30-17:00" when empty
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_sender: str = "no-reply@dichvucong.example"
    smtp_starttls: bool = False
    base_url: str = "http://127.0.0.1:8000"
    download_link_days: int = 7  # how long a link in an e-mail to a file or slip works
    clamd_address: str = ""  # a Unix socket path or host:port; empty: files are not scanned
    web_threads: int = 16  # threads a web process runs blocking work (database, files) on
    slip_place: str = ""  # where slips say they are written ("Hà Nội"); dots when empty
    # The root certificates signatures must chain to: a PEM bundle or a folder (README).
    trust_anchors: Path | None = None
    # Online payment: (name, address, merchant code, secret) of each gateway offered, in order
    # (services/payments.py); empty: fees are paid at the counter only.
    payment_gateways: tuple[tuple[str, str, str, str], ...] = ()
    vnpay_api_url: str = ""  # VNPay's query API ("": beside the payment page)
    payment_check_minutes: int = 15  # a payment still pending this long is asked about
    # Single sign-on with the national identity (OpenID Connect); "" turns it off.
    national_id_discovery_url: str = ""
    national_id_client_id: str = ""
    national_id_client_secret: str = ""
    national_id_scopes: str = "openid profile"
    national_id_claims: tuple[tuple[str, str], ...] = NATIONAL_ID_CLAIMS
    national_id_min_level: int = 2  # the assurance level that activates an account
    # The API (/api/v1): how far a signed request's timestamp may be from the server's clock,
    # and the requests a client may make in a minute unless its registration says otherwise.
    api_clock_skew_seconds: int = 300
    api_rate_limit: int = 120
    national_sync: NationalSync = NationalSync()  # the status sync (off without an address)
    debug: bool = False

    @property
    def uploads(self) -> Path:
        return self.upload_dir or self.data_dir / "uploads"

    @classmethod
    def for_data_dir(cls, data_dir: Path, **overrides: object) -> Settings:
        """Settings for a self-contained instance under `data_dir` (used by tests and tools)."""
        data_dir = Path(data_dir)
        values: dict[str, object] = {
            "secret_key": load_or_create_secret(data_dir),
            "data_dir": data_dir,
            "database_url": f"sqlite:///{data_dir / 'portal.db'}",
        }
        values.update(overrides)
        if "history_keys" not in values:
            values["history_keys"] = load_or_create_history_keys(data_dir)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] = os.environ, *, create_history_key: bool = True
    ) -> Settings:
        """Read the settings from environment variables; raises ConfigError on a bad value.
        Without `create_history_key`, a missing history key is left missing (restore)."""
        data_dir = Path(env.get("PORTAL_DATA_DIR") or ROOT / "data")
        language = env.get("PORTAL_LANGUAGE", "vi")
        if language not in LANGUAGES:
            raise ConfigError(f"PORTAL_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'portal.db'}"
        if not database_url.startswith(("sqlite:", "postgres:", "postgresql:")):
            raise ConfigError("DATABASE_URL must start with sqlite:// or postgresql://")
        upload_dir = env.get("PORTAL_UPLOAD_DIR")
        anchors = env.get("PORTAL_TRUST_ANCHORS") or None
        if anchors and not Path(anchors).exists():
            raise ConfigError(f"PORTAL_TRUST_ANCHORS names {anchors}, which does not exist")
        return cls(
            secret_key=env.get("PORTAL_SECRET_KEY") or load_or_create_secret(data_dir),
            data_dir=data_dir,
            database_url=database_url,
            history_keys=_history_keys(env, data_dir, create_history_key),
            redis_url=env.get("REDIS_URL") or None,
            upload_dir=Path(upload_dir) if upload_dir else None,
            max_upload_bytes=_int(env, "PORTAL_MAX_UPLOAD_MB", 20, 1) * 1024 * 1024,
            max_files_per_dossier=_int(env, "PORTAL_MAX_FILES", 20, 1),
            max_reserved_bytes=_int(env, "PORTAL_MAX_RESERVED_MB", 200, 1) * 1024 * 1024,
            host=env.get("PORTAL_HOST", "127.0.0.1"),
            port=_int(env, "PORTAL_PORT", 8000, 1),
            default_language=language,
            secure_cookies=env.get("PORTAL_SECURE_COOKIES") == "1",
            session_idle_minutes=_int(env, "PORTAL_SESSION_IDLE_MINUTES", 120, 1),
            session_absolute_hours=_int(env, "PORTAL_SESSION_HOURS", 12, 1),
            office_hours=_office_hours(env.get("PORTAL_OFFICE_HOURS", "")),
            smtp_host=env.get("PORTAL_SMTP_HOST", ""),
            smtp_port=_int(env, "PORTAL_SMTP_PORT", 25, 1),
            smtp_user=env.get("PORTAL_SMTP_USER", ""),
            smtp_password=env.get("PORTAL_SMTP_PASSWORD", ""),
            smtp_sender=env.get("PORTAL_SMTP_FROM", "no-reply@dichvucong.example"),
            smtp_starttls=env.get("PORTAL_SMTP_STARTTLS") == "1",
            base_url=env.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            download_link_days=_int(env, "PORTAL_DOWNLOAD_LINK_DAYS", 7, 1),
            clamd_address=env.get("PORTAL_CLAMD", ""),
            web_threads=_int(env, "PORTAL_WEB_THREADS", 16, 1),
            slip_place=env.get("PORTAL_SLIP_PLACE", "").strip()[:100],
            trust_anchors=Path(anchors) if anchors else None,
            payment_gateways=_gateways(env),
            vnpay_api_url=env.get("PORTAL_VNPAY_API_URL", "").strip(),
            payment_check_minutes=_int(env, "PORTAL_PAYMENT_CHECK_MINUTES", 15, 1),
            **_national_id(env),  # type: ignore[arg-type]
            api_clock_skew_seconds=_int(env, "PORTAL_API_CLOCK_SKEW_SECONDS", 300, 1),
            api_rate_limit=_int(env, "PORTAL_API_RATE_LIMIT", 120, 1),
            national_sync=_national_sync(env),
            debug=env.get("PORTAL_DEBUG") == "1",
        )
