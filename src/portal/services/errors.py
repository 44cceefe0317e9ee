"""Errors that services raise, with messages safe to show users (translated by the web layer)."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark a message for translation without translating it here (Babel extracts N_)."""
    return message


class Message:
    """A message id plus its parameters; the web layer translates and fills it in."""

    def __init__(self, text: str, **params: Any) -> None:
        self.text = text
        self.params = params

    def __repr__(self) -> str:
        return f"Message({self.text!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.text, self.params) == (other.text, other.params)


class LocalText(Message):
    """A message that data gives in each language (a form field's pattern message), not a
    message id: shown in the reader's language, else in Vietnamese."""

    def __init__(self, vi: str, en: str = "") -> None:
        super().__init__(vi)
        self.texts = {"vi": vi, "en": en or vi}


# What kind of refusal a DomainError is; the web layer answers each with its own HTTP status.
KINDS = (
    "invalid",  # what was sent breaks a rule (a field, a limit)
    "unknown",  # no such action
    "forbidden",  # not by this user (recorded as a permission denial)
    "conflict",  # not in the object's current state
    "unavailable",  # a service the portal depends on (a payment gateway) does not answer
)


class DomainError(Exception):
    """A rule forbids what was asked; the message is safe to show to users, and `kind` (one
    of KINDS) says which sort of refusal it is."""

    def __init__(self, message: str | Message, kind: str = "invalid") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of DomainError: {kind!r}")
        self.message = message if isinstance(message, Message) else Message(message)
        self.kind = kind
        super().__init__(self.message.text)


class ValidationError(DomainError):
    """Some fields are invalid; `errors` maps each field name to its message."""

    def __init__(self, errors: dict[str, Message]) -> None:
        self.errors = errors
        super().__init__(N_("Please correct the errors below."))


class NotFound(Exception):
    """The object does not exist (or the caller may not know it exists)."""


class AccessDenied(NotFound):
    """The object exists but the user may not see it: answered like a missing one (404), and
    recorded in the history as a permission denial."""

    def __init__(self, kind: str, object_id: int) -> None:
        self.kind = kind
        self.object_id = object_id
        super().__init__(kind)
