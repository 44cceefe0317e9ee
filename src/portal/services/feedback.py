"""Questions and complaints (phản ánh, kiến nghị): anybody sends one through the public form
and gets a reference number and a confirmation by e-mail; customs staff (officers, leaders,
administrators, of any unit) answer it, the answer goes to the asker by e-mail, and the
answered items whose asker agreed appear on a public page without the asker's name, e-mail
address or phone.

The form sends mail to the address typed in it, so submissions are counted in the bounded
security log and limited as the other mail-sending forms are (services/login_limits.py: per
client address, and per e-mail address they send to)."""

from __future__ import annotations

from typing import Any

from portal.db import is_postgres, reading, transactional
from portal.models import Feedback, User, utcnow
from portal.services import history, login_limits
from portal.services.accounts import email_field
from portal.services.counter import PHONE_PATTERN
from portal.services.errors import N_, DomainError, NotFound
from portal.services.history import Actor
from portal.services.login_limits import Throttle
from portal.services.notify import AUTOMATIC, in_language, queue_mail
from portal.services.paging import Page, paginate
from portal.services.validation import Field, validate

SUBMITTED = "feedback_submitted"  # the security log's action (anonymous, bounded)
ANSWERED = "feedback_answered"  # the history's action (a signed-in officer's act)
MAX_CONTENT = 4000
PER_PAGE = 20
STATES = ("open", "answered")  # the staff list's filter ("" = all)
FIELDS = [
    Field("name", max_length=255),
    email_field(),
    Field(
        "phone",
        required=False,
        max_length=32,
        pattern=PHONE_PATTERN,
        pattern_message=N_("Enter a phone number of 9 to 20 digits, like 0912 345 678."),
    ),
    Field("about", required=False, max_length=64),
    Field("subject", max_length=255),
    Field("content", max_length=MAX_CONTENT, multiline=True),
    Field("publish", kind="bool"),
]
ANSWER_FIELDS = [Field("answer", max_length=MAX_CONTENT, multiline=True)]
RECEIVED_SUBJECT = N_("Your question %(reference)s is received")
RECEIVED_BODY = N_(
    "We have received your question or complaint. Its reference number is %(reference)s. "
    "Customs staff will answer it by e-mail to this address."
)
ANSWERED_SUBJECT = N_("The answer to your question %(reference)s")
ANSWERED_ALREADY = N_("This question has been answered already.")


def submit(
    data: dict[str, Any], client_addr: str, language: str
) -> tuple[Feedback | None, Throttle | None]:
    """Take a question: (the feedback, None), or (None, the throttle) when this address or
    e-mail has sent too many lately (nothing is recorded then). Raises ValidationError."""
    cleaned = validate(data, FIELDS)
    email = cleaned["email"].lower()
    throttle = login_limits.requests_throttle((SUBMITTED,), email, client_addr)
    if throttle is not None:
        return None, throttle
    return _record(cleaned, email, client_addr, language), None


@transactional
def _record(cleaned: dict[str, Any], email: str, client_addr: str, language: str) -> Feedback:
    now = utcnow()
    login_limits.count_request(SUBMITTED, email, client_addr, now)
    item = Feedback.create(
        name=cleaned["name"],
        email=email,
        phone=cleaned["phone"],
        about=cleaned["about"],
        subject=cleaned["subject"],
        content=cleaned["content"],
        publish=cleaned["publish"],
        language=language,
        created_at=now,
    )
    _mail(
        item,
        RECEIVED_SUBJECT,
        [in_language(language, RECEIVED_BODY, reference=item.reference)],
        "received",
    )
    return item


def _mail(item: Feedback, subject: str, lines: list[str], kind: str) -> None:
    """Queue one e-mail to the asker, in their language (once per item and `kind`)."""
    language = item.language
    body = [
        *lines,
        "",
        f"{in_language(language, N_('Subject'))}: {item.subject}",
        "",
        in_language(language, AUTOMATIC),
    ]
    queue_mail(
        None,
        item.email,
        in_language(language, subject, reference=item.reference),
        "\n".join(body),
        key=f"feedback:{item.id}:{kind}",
    )


@reading
def staff_list(state: str = "", page: int = 1) -> Page:
    """The questions for staff: the unanswered first (oldest first: they wait longest), then
    the answered ones, newest answer first; `state` "open" or "answered" keeps only those."""
    query = Feedback.select()
    if state == "open":
        query = query.where(Feedback.answered_at.is_null())
    elif state == "answered":
        query = query.where(Feedback.answered_at.is_null(False))
    query = query.order_by(
        Feedback.answered_at.is_null(False),  # false (unanswered) sorts first on both
        Feedback.answered_at.desc(),
        Feedback.id,
    )
    return paginate(query, page, PER_PAGE)


@reading
def open_count() -> int:
    return Feedback.select().where(Feedback.answered_at.is_null()).count()


@reading
def get(feedback_id: int) -> Feedback:
    """One question with who answered it; raises NotFound."""
    item = Feedback.get_or_none(Feedback.id == feedback_id)
    if item is None:
        raise NotFound("feedback")
    return item


@reading
def answerer_name(item: Feedback) -> str:
    if item.answered_by_id is None:
        return ""
    user = User.get_or_none(User.id == item.answered_by_id)
    return user.full_name if user is not None else ""


@transactional
def answer(user: User, feedback_id: int, data: dict[str, Any], client_addr: str = "") -> Feedback:
    """Record the answer, e-mail it to the asker and note the act in the history. Raises
    NotFound, DomainError "conflict" (answered already) or ValidationError."""
    query = Feedback.select().where(Feedback.id == feedback_id)
    item = (query.for_update() if is_postgres() else query).first()
    if item is None:
        raise NotFound("feedback")
    if item.answered:
        raise DomainError(ANSWERED_ALREADY, kind="conflict")
    cleaned = validate(data, ANSWER_FIELDS)
    now = utcnow()
    Feedback.update(answer=cleaned["answer"], answered_at=now, answered_by=user.id).where(
        Feedback.id == item.id
    ).execute()
    item = Feedback.get_by_id(item.id)
    history.record(Actor.of(user, client_addr), ANSWERED, note=item.reference, public=False)
    _mail(item, ANSWERED_SUBJECT, [item.answer], "answered")
    return item


@reading
def published(page: int = 1) -> Page:
    """The answered questions whose askers agreed to publish them, newest answer first. The
    rows carry only what the public page shows (no name, e-mail or phone)."""
    query = (
        Feedback.select(
            Feedback.id,
            Feedback.created_at,
            Feedback.subject,
            Feedback.content,
            Feedback.answer,
            Feedback.answered_at,
        )
        .where(Feedback.publish == True, Feedback.answered_at.is_null(False))  # noqa: E712
        .order_by(Feedback.answered_at.desc(), Feedback.id.desc())
    )
    return paginate(query, page, PER_PAGE)
