"""Single-use links that leave the portal by e-mail: confirm an e-mail address, reset a
forgotten password.

A link carries a token signed with the portal's secret (itsdangerous, one salt per purpose)
naming the user and what the account looked like when it was sent; it expires, and it is
used up by the change it makes: a confirmation only while the address is still unconfirmed,
a reset only while the password is still the one it was sent for."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import BadData, URLSafeTimedSerializer

from portal.models import User

if TYPE_CHECKING:
    from portal.config import Settings

CONFIRM = "confirm-email"
RESET = "password-reset"
LIFETIME = {CONFIRM: dt.timedelta(days=2), RESET: dt.timedelta(hours=1)}


def _state(purpose: str, user: User) -> str:
    """What the token is bound to: a change of it (the address confirmed, the password
    changed) uses the link up."""
    seen = user.username if purpose == CONFIRM else user.password_hash
    return hashlib.sha256(f"{purpose}\x1f{seen}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class AccountLinks:
    """Makes and reads the tokens of one deployment (its secret and address)."""

    secret: str
    base_url: str

    @classmethod
    def of(cls, settings: Settings) -> AccountLinks:
        return cls(settings.secret_key, settings.base_url)

    def token(self, purpose: str, user: User) -> str:
        return URLSafeTimedSerializer(self.secret, salt=purpose).dumps(
            [user.id, _state(purpose, user)]
        )

    def url(self, path: str, purpose: str, user: User) -> str:
        """The absolute address of the page at `path` with the token, for an e-mail."""
        return f"{self.base_url}{path}?t={self.token(purpose, user)}"

    def user(self, purpose: str, token: str) -> User | None:
        """The user a token was made for, while it is genuine, unexpired and unused; else
        None. Reads the database: call with a connection open."""
        try:
            data = URLSafeTimedSerializer(self.secret, salt=purpose).loads(
                token, max_age=int(LIFETIME[purpose].total_seconds())
            )
        except BadData:
            return None
        if not (isinstance(data, list) and len(data) == 2 and type(data[0]) is int):
            return None
        user = User.get_or_none(User.id == data[0])
        if user is None or not user.active or data[1] != _state(purpose, user):
            return None
        if purpose == CONFIRM and user.enterprise_status != "unconfirmed":
            return None
        return user
