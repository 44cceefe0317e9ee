"""The yardstick of bench/hot_path.py: a bare Starlette + Jinja page of a given size.

    uvicorn bare_page:app --app-dir bench

One route renders one Jinja template (a heading and a table of the real procedures' codes,
names and agencies from data/seed/customs_procedures.csv, as many rows as make
`BARE_PAGE_BYTES` of HTML, so that it compresses as a real page does); with
`BARE_PAGE_COMPRESS=1` the responses go through the same compression middleware and levels as
the portal's pages, so that both send about the same bytes.
No database, no session, no security headers: what Starlette and Jinja cost on their own.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{{ title }}</title>"
    "</head><body><h1>{{ title }}</h1><table>"
    "{% for code, name, agency in rows %}<tr><td>{{ code }}</td><td>{{ name }}</td>"
    "<td>{{ agency }}</td></tr>{% endfor %}</table></body></html>"
)
CATALOGUE = Path(__file__).resolve().parents[1] / "data" / "seed" / "customs_procedures.csv"


def rows_for(size: int) -> list[tuple[str, str, str]]:
    """The catalogue's rows, over again if need be, until the page is about `size` bytes."""
    with CATALOGUE.open(encoding="utf-8") as f:
        procedures = [(r["ma_tthc"], r["ten"], r["co_quan_thuc_hien"]) for r in csv.DictReader(f)]
    rows: list[tuple[str, str, str]] = []
    while len(TEMPLATE.render(title="Danh mục thủ tục", rows=rows).encode()) < size:
        rows.append(procedures[len(rows) % len(procedures)])
    return rows


ROWS = rows_for(int(os.environ.get("BARE_PAGE_BYTES", "60000")))


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(TEMPLATE.render(title="Danh mục thủ tục", rows=ROWS))


def _middleware() -> list[Middleware]:
    if os.environ.get("BARE_PAGE_COMPRESS") != "1":
        return []
    from starlette_compress import CompressMiddleware

    # The portal's levels (src/portal/app.py).
    return [Middleware(CompressMiddleware, minimum_size=512, zstd_level=6, brotli_quality=5,
                       gzip_level=6)]


app = Starlette(routes=[Route("/", page)], middleware=_middleware())
