"""Who may see and act on a dossier. An object the user may not see is reported as missing
(NotFound), so nobody learns that another enterprise's dossier exists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portal.models import Attachment, Dossier, Procedure, User
from portal.services.download_links import DownloadLinks
from portal.services.errors import AccessDenied, NotFound
from portal.services.status import DRAFT, RESULT_ISSUED

# Who acts on a dossier: the dossier's owner (a user of its enterprise), an officer or a leader
# of the handling unit. Admins and auditors never change a dossier.
OWNER, OFFICER, LEADER = "owner", "officer", "leader"
UNIT_STAFF = frozenset({OFFICER, LEADER})
# The portal itself, acting on what a payment gateway confirmed (never a signed-in user).
SYSTEM = "system"


@dataclass(frozen=True)
class Ctx:
    """The acting user and what a change needs from the deployment."""

    user: User
    client_addr: str = ""
    uploads: Path = Path("data/uploads")
    max_upload_bytes: int = 20 * 1024 * 1024
    max_files: int = 20
    max_reserved_bytes: int = 200 * 1024 * 1024  # a user's open resumable uploads
    office_hours: str = ""
    scan_files: bool = False  # a virus scanner is configured: new files wait for it
    links: DownloadLinks | None = None  # signs the links e-mails carry; None: no links
    trust_anchors: Path | None = None  # the roots signatures must chain to (config)


def actor_kind(user: User | None, dossier: Dossier) -> str | None:
    """The workflow role `user` plays for `dossier` (owner, officer, leader) or None."""
    if user is None or not user.active:
        return None
    if user.role == "enterprise" and user.enterprise_id == dossier.enterprise_id:
        return OWNER
    if dossier.status != DRAFT and dossier.unit_id and user.unit_id == dossier.unit_id:
        if user.role == "officer":
            return OFFICER
        if user.role == "leader":
            return LEADER
    return None


def is_unit_staff(user: User | None, dossier: Dossier) -> bool:
    """Whether `user` is an active officer or leader of the dossier's handling unit."""
    return actor_kind(user, dossier) in UNIT_STAFF


def can_view(user: User | None, dossier: Dossier) -> bool:
    if actor_kind(user, dossier) is not None:
        return True
    return user is not None and user.active and user.role == "auditor" and dossier.status != DRAFT


def require_view(user: User | None, dossier: Dossier | None) -> Dossier:
    """`dossier` if `user` may see it; raises NotFound when it is None, AccessDenied (a
    NotFound) when `user` may not see it."""
    if dossier is None:
        raise NotFound("dossier")
    if not can_view(user, dossier):
        raise AccessDenied("dossier", dossier.id)
    return dossier


def can_open_confidential(user: User | None, dossier: Dossier) -> bool:
    """Confidential files: the owner's enterprise, or officers and leaders of the handling unit
    who hold the clearance flag."""
    kind = actor_kind(user, dossier)
    return kind == OWNER or (kind in UNIT_STAFF and bool(user and user.clearance))


def result_released(dossier: Dossier, procedure: Procedure) -> bool:
    """Whether the applicant may have the result document: it is issued and the procedure
    returns results online."""
    return dossier.status in RESULT_ISSUED and procedure.returns_result_online


def result_withheld(
    actor: str | None, dossier: Dossier, procedure: Procedure, attachment: Attachment
) -> bool:
    """Whether `attachment` is a result document the owner may not have yet."""
    return (
        attachment.purpose == "result"
        and actor == OWNER
        and not result_released(dossier, procedure)
    )
