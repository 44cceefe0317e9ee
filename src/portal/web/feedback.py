"""Questions and complaints: the public form, the staff's list and answer, and the public page
of the answers their askers agreed to publish."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import current_language, translate
from portal.i18n import gettext_ as _
from portal.models import utcnow
from portal.services import feedback
from portal.services.errors import N_, DomainError, NotFound, ValidationError
from portal.services.text import as_int
from portal.web.auth import throttle_text
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import is_htmx, render
from portal.web.requests import int_param, param
from portal.web.security import client_addr, guard, read_form
from portal.web.urls import url

FIELDS = ("name", "email", "phone", "about", "subject", "content", "publish")
STATE_NAMES = {"": N_("All"), "open": N_("Unanswered"), "answered": N_("Answered")}


def _form(
    request: Request, values: dict, errors: dict, status_code: int = 200, sent=None
) -> Response:
    return render(
        request,
        "feedback/new.html",
        {"values": values, "errors": errors, "sent": sent, "max_content": feedback.MAX_CONTENT},
        status_code=status_code,
        fragment="feedback_form",
    )


@guard("public")
async def feedback_new(request: Request) -> Response:
    user = request.state.user
    values = {"name": user.full_name, "email": user.email} if user is not None else {}
    return _form(request, values, {})


@guard("public")
async def feedback_create(request: Request) -> Response:
    """Take a question (CSRF-checked like every form, limited per address and e-mail): the
    reference number is shown (the form's place for htmx, after a 303 otherwise) and mailed."""
    data = form_dict(await read_form(request), FIELDS)
    try:
        item, throttle = await run_in_threadpool(
            feedback.submit, data, client_addr(request), current_language.get()
        )
    except ValidationError as exc:
        return _form(request, kept_values(data), error_texts(exc), status_code=422)
    if throttle is not None:
        seconds = throttle.seconds_left(utcnow())
        response = _form(
            request, kept_values(data), {"email": throttle_text(-(-seconds // 60))}, 429
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    assert item is not None
    if is_htmx(request):
        return _form(request, {}, {}, sent=item)
    flash(
        request,
        _(
            "Your question is sent. Its reference number is %(reference)s; we have sent a "
            "confirmation to %(email)s."
        )
        % {"reference": item.reference, "email": item.email},
    )
    return RedirectResponse(url(request, "feedback_new"), 303)


@guard("feedback_staff")
async def feedback_list(request: Request) -> Response:
    state = param(request, "state", max_length=10)
    state = state if state in feedback.STATES else ""
    page = await run_in_threadpool(feedback.staff_list, state, int_param(request, "page"))
    open_count = await run_in_threadpool(feedback.open_count)
    return render(
        request,
        "feedback/list.html",
        {"page": page, "state": state, "state_names": STATE_NAMES, "open_count": open_count},
        fragment="results",
    )


def _feedback_id(request: Request) -> int:
    value = as_int(request.path_params["feedback_id"])
    if value is None:
        raise NotFound("feedback")
    return value


async def _detail(request: Request, values: dict, errors: dict, status_code: int = 200) -> Response:
    item = await run_in_threadpool(feedback.get, _feedback_id(request))
    answerer = await run_in_threadpool(feedback.answerer_name, item)
    return render(
        request,
        "feedback/detail.html",
        {
            "item": item,
            "answerer": answerer,
            "values": values,
            "errors": errors,
            "max_content": feedback.MAX_CONTENT,
            "swapped": is_htmx(request),
        },
        status_code=status_code,
        fragment="answer",
    )


@guard("feedback_staff")
async def feedback_detail(request: Request) -> Response:
    return await _detail(request, {}, {})


@guard("feedback_staff")
async def feedback_answer(request: Request) -> Response:
    """Record the answer and mail it; the form again with its error (422) when it is empty or
    too long, or the question is answered already."""
    fid = _feedback_id(request)
    data = form_dict(await read_form(request), ("answer",))
    try:
        await run_in_threadpool(
            feedback.answer, request.state.user, fid, data, client_addr(request)
        )
    except ValidationError as exc:
        return await _detail(request, kept_values(data), error_texts(exc), status_code=422)
    except DomainError as exc:
        return await _detail(request, {}, {"answer": translate(exc.message)}, status_code=422)
    if is_htmx(request):
        return await _detail(request, {}, {})
    flash(request, _("The answer is recorded and sent to the asker."))
    return RedirectResponse(url(request, "feedback_detail", feedback_id=fid), 303)


@guard("public")
async def feedback_answers(request: Request) -> Response:
    page = await run_in_threadpool(feedback.published, int_param(request, "page"))
    return render(request, "feedback/answers.html", {"page": page}, fragment="results")
