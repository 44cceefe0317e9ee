"""Links that leave the session (in e-mails) to a dossier's receipt, slips and files.

Such a link carries a token signed with the portal's secret (itsdangerous, salt "download")
that names the user it was sent to, the dossier and the object, and expires after
`Settings.download_link_days`. The token never grants access by itself: the download handler
also needs a signed-in session of that same user, who must still be allowed to see the object."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

if TYPE_CHECKING:
    from portal.config import Settings

SALT = "download"
KINDS = ("file", "slip", "receipt")


@dataclass(frozen=True)
class Target:
    """What a link opens: `kind` `object_id` (an attachment, a slip, or the dossier itself for
    its receipt) of dossier `dossier_id`, for user `user_id`."""

    user_id: int
    dossier_id: int
    kind: str
    object_id: int

    @property
    def path(self) -> str:
        base = f"/dossiers/{self.dossier_id}"
        if self.kind == "file":
            return f"{base}/files/{self.object_id}"
        if self.kind == "slip":
            return f"{base}/slips/{self.object_id}"
        return f"{base}/receipt"


@dataclass(frozen=True)
class DownloadLinks:
    """Makes and reads the tokens of one deployment (its secret, address and link lifetime)."""

    secret: str
    base_url: str
    days: int = 7

    @classmethod
    def of(cls, settings: Settings) -> DownloadLinks:
        return cls(settings.secret_key, settings.base_url, settings.download_link_days)

    @property
    def max_age(self) -> dt.timedelta:
        return dt.timedelta(days=self.days)

    def token(self, target: Target, issued_at: int | None = None) -> str:
        """The signed token for `target`, dated now or at `issued_at` (Unix seconds)."""
        return _serializer(self.secret, issued_at).dumps(
            [target.user_id, target.dossier_id, target.kind, target.object_id]
        )

    def url(self, target: Target) -> str:
        """The absolute address to put in an e-mail."""
        return f"{self.base_url}{target.path}?t={self.token(target)}"

    def read(self, token: str) -> Target | None:
        """The target a token names, or None when it is forged, altered, expired or malformed."""
        try:
            data = _serializer(self.secret).loads(token, max_age=int(self.max_age.total_seconds()))
        except BadData:
            return None
        if not (isinstance(data, list) and len(data) == 4 and data[2] in KINDS):
            return None
        user_id, dossier_id, kind, object_id = data
        if not all(type(n) is int for n in (user_id, dossier_id, object_id)):
            return None
        return Target(user_id, dossier_id, kind, object_id)


def _serializer(secret: str, issued_at: int | None = None) -> URLSafeTimedSerializer:
    if issued_at is None:
        return URLSafeTimedSerializer(secret, salt=SALT)

    class Dated(TimestampSigner):
        def get_timestamp(self) -> int:
            return issued_at

    return URLSafeTimedSerializer(secret, salt=SALT, signer=Dated)
