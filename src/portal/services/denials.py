"""Permission denials: a signed-in user refused a page (403) or an object (answered as missing,
404). Each is counted in the bounded security log by user; the first RECORDED of a user within
WINDOW also enter the official history as an `access_denied` event (never public), the rest
are only counted, so a user hammering a forbidden address cannot grow the history for ever."""

from __future__ import annotations

import datetime as dt

from portal.db import transactional
from portal.models import User, utcnow
from portal.services import history, security_log

ACTION = "access_denied"
SCOPE = "user"
MAX_PATH = 500
RECORDED = 20
WINDOW = dt.timedelta(minutes=10)


def denial_note(method: str, path: str, kind: str = "", object_id: int | None = None) -> str:
    """What the event's note says: the method and path asked for, and the object refused."""
    text = f"{method[:10]} {path[:MAX_PATH]}"
    if kind:
        text += f" [{kind[:32]} {object_id}]" if object_id is not None else f" [{kind[:32]}]"
    return text


@transactional
def record_denial(
    user_id: int,
    client_addr: str,
    method: str,
    path: str,
    kind: str = "",
    object_id: int | None = None,
    *,
    now: dt.datetime | None = None,
) -> bool:
    """Count that the user `user_id` was refused `method path` (and the object `kind`
    `object_id` there, when an object was refused); record it in the history unless the user
    has had RECORDED denials there within WINDOW. Returns whether it was recorded."""
    now = now or utcnow()
    security_log.add(ACTION, SCOPE, str(user_id), now)
    if security_log.total(ACTION, SCOPE, str(user_id), now, WINDOW) > RECORDED:
        return False
    user = User.get_or_none(User.id == user_id)
    history.record(
        history.Actor.of(user, client_addr),
        ACTION,
        note=denial_note(method, path, kind, object_id),
        public=False,
    )
    return True
