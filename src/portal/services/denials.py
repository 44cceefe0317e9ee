"""Permission denials in the official history: a signed-in user refused a page (403) or an
object (answered as missing, 404) leaves an `access_denied` event (never public)."""

from __future__ import annotations

from portal.db import transactional
from portal.models import User
from portal.services import history

ACTION = "access_denied"
MAX_PATH = 500


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
) -> None:
    """Record that the user `user_id` was refused `method path` (and the object `kind`
    `object_id` there, when an object was refused)."""
    user = User.get_or_none(User.id == user_id)
    history.record(
        history.Actor.of(user, client_addr),
        ACTION,
        note=denial_note(method, path, kind, object_id),
        public=False,
    )
