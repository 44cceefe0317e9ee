"""Turning service validation errors into what form templates show."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import FormData

from portal.i18n import translate
from portal.services.errors import ValidationError

SECRET_FIELDS = ("password", "password_confirm", "current_password", "csrf_token")


def form_dict(form: FormData, names: Iterable[str] | None = None) -> dict[str, str]:
    """Text fields of a submitted form without NUL, NFC-normalised (Vietnamese typed with
    combining marks is kept and shown composed) except secrets, which stay as typed; files and
    repeated keys are ignored."""
    keys = names if names is not None else form.keys()
    out: dict[str, str] = {}
    for key in keys:
        value = form.get(key)
        value = value.replace("\x00", "") if isinstance(value, str) else ""
        out[key] = value if key in SECRET_FIELDS else unicodedata.normalize("NFC", value)
    return out


def kept_values(data: dict[str, Any]) -> dict[str, Any]:
    """What to put back into a re-rendered form: everything but secrets."""
    return {k: v for k, v in data.items() if k not in SECRET_FIELDS}


def error_texts(exc: ValidationError) -> dict[str, str]:
    return {name: translate(message) for name, message in exc.errors.items()}


def flash(request: Any, message: str, kind: str = "success") -> None:
    """Keep a message for the next page the user sees."""
    request.session.setdefault("flash", [])
    request.session["flash"] = [*request.session["flash"], [kind, message]][-3:]


def pop_flash(request: Any) -> list[list[str]]:
    return request.session.pop("flash", []) if "flash" in request.session else []
