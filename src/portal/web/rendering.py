"""One template per page, rendered whole or as the fragment htmx asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from portal import i18n
from portal.config import ROOT, Settings
from portal.services import accounts, fees, payments, policy, workflow
from portal.services.gateways import TITLES as GATEWAY_TITLES
from portal.services.status import END_LABELS, Status
from portal.web.forms import pop_flash
from portal.web.security import csrf_token
from portal.web.urls import Urls


def is_htmx(request: Request) -> bool:
    """An htmx request for part of a page (a history restore wants the whole page)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def _context(request: Request) -> dict[str, Any]:
    user = getattr(request.state, "user", None)
    return {
        "user": user,
        "can": lambda rule: policy.allows(rule, user),  # may the user use routes of `rule`
        "csrf_token": lambda: csrf_token(request),  # lazy: only pages with forms start a session
        # the token of a session that exists already, else "" (starts none: the header's
        # language button is on every page)
        "session_csrf": lambda: request.session.get("csrf", ""),
        "language": i18n.current_language.get(),
        "settings": request.app.state.settings,
        # next year while its holidays are unconfirmed (from 1 October), else None: read with
        # the session's user (web/security.py), shown by the pages that ask for the warning
        "unconfirmed_year": getattr(request.state, "unconfirmed_year", None),
    }


class _CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once per process, shared by every app made in it (a test run makes
    one per test; a web process more than one when reloaded): Jinja checks each entry against
    the template's source checksum, so a changed template is compiled again."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


def make_templates(
    settings: Settings, static_url: Any, directory: Path | None = None, urls: Urls | None = None
) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory or ROOT / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Checking every template file's time on every render (the default) costs a stat()
        # per template, layout and macro file of each page: only while developing.
        auto_reload=settings.debug,
        bytecode_cache=_COMPILED,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext_,
        i18n.ngettext_,
        newstyle=True,
        pgettext=i18n.pgettext_,
        npgettext=i18n.npgettext_,
    )
    _keep_plain_messages(env)
    env.globals.update(i18n.template_globals())
    env.filters.update(i18n.template_filters())
    env.globals["static"] = static_url
    if urls is not None:
        env.globals["url"] = urls  # url("dossier_edit", dossier_id=d.id): portal.web.urls
    env.globals["urlencode"] = urlencode
    env.globals["role_labels"] = accounts.ROLE_LABELS
    env.globals["min_password"] = accounts.MIN_PASSWORD
    env.globals["Status"] = Status
    env.globals["end_labels"] = END_LABELS
    env.globals["slip_names"] = workflow.SLIP_NAMES
    env.globals["purpose_names"] = workflow.PURPOSE_NAMES
    env.globals["action_names"] = workflow.ACTION_NAMES
    env.globals["payment_labels"] = payments.PAYMENT_LABELS
    env.globals["order_labels"] = payments.ORDER_LABELS
    env.globals["channel_labels"] = payments.CHANNEL_LABELS
    env.globals["gateway_titles"] = GATEWAY_TITLES
    env.globals["fee_percent"] = fees.percent_text
    return Jinja2Templates(env=env, context_processors=[_context])


# Templates ask for a hundred messages a page, most without parameters; each answer is the
# same for a language every time (what jinja2's gettext makes of it: escaped, "%%" undone).
PLAIN_MESSAGES_KEPT = 20000


def _keep_plain_messages(env: jinja2.Environment) -> None:
    """Answer `_("...")` without parameters from memory after the first time."""
    translate = env.globals["gettext"]
    kept: dict[tuple[str, str, bool], Any] = {}

    @jinja2.pass_context
    def gettext(context: Any, message: str, **variables: Any) -> Any:
        if variables:
            return translate(context, message, **variables)  # type: ignore[operator]
        key = (i18n.current_language.get(), message, context.eval_ctx.autoescape)
        text = kept.get(key)
        if text is None:
            text = translate(context, message)  # type: ignore[operator]
            if len(kept) < PLAIN_MESSAGES_KEPT:
                kept[key] = text
        return text

    env.globals["gettext"] = gettext


def render(
    request: Request,
    name: str,
    ctx: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render `name`; for htmx requests and a named `fragment`, only that block."""
    templates: Jinja2Templates = request.app.state.templates
    ctx = ctx or {}
    all_headers = {"Vary": "HX-Request", **(headers or {})}
    if fragment and is_htmx(request):
        template = templates.get_template(name)
        context = template.new_context({"request": request, **_context(request), **ctx})
        html = "".join(template.blocks[fragment](context))
        return HTMLResponse(html, status_code, all_headers)
    ctx = {"flashes": pop_flash(request), **ctx}
    return templates.TemplateResponse(
        request, name, ctx, status_code=status_code, headers=all_headers
    )
