"""The virtual users of bench/load.py: anonymous visitors, enterprises filing dossiers and
officers receiving them, each an httpx2 client with its own session that acts like a browser
(CSRF token from the last page, redirects followed where a browser would look at the page),
and the recorder of every request's latency and outcome, grouped by route."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx2

PROCEDURE, UNIT = "1.005458", "02CI"  # the demo procedure with a form and two documents
SEARCHES = [
    "hủy tờ khai",
    "huy to khai",
    "hoàn thuế",
    "miễn thuế",
    "kiểm tra chuyên ngành",
    "tạm nhập tái xuất",
    "xuất xứ",
    "bảo lãnh",
    "gia công",
    "kho ngoại quan",
    "doanh nghiệp ưu tiên",
    "Nhập khẩu",
]
REASONS = [
    "Hàng hóa không xuất khẩu được do người mua hủy hợp đồng.",
    "Khai sai so với thực tế, đề nghị hủy để khai lại tờ khai mới.",
    "Tờ khai đăng ký trùng với tờ khai đã thông quan trước đó.",
]
HX = {"HX-Request": "true"}
# The connection was closed before any answer came: a browser sends the request again.
CLOSED = (httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PROCEDURE_RE = re.compile(r'href="/procedures/([0-9.]+)"')
DOCUMENT_RE = re.compile(r'name="document" value="(\d+)"')
SUBMIT_KEY_RE = re.compile(r'name="submit_key" value="([^"]+)"')
DOSSIER_RE = re.compile(r'href="/dossiers/(\d+)"')
MESSAGE_RE = re.compile(
    r'<title>(.*?)</title>|class="app-field-error"[^>]*>(.*?)</|role="alert"[^>]*>\s*<h2>(.*?)</',
    re.S,
)
# Which target applies to a route: its p95 must stay under this many milliseconds.
PAGE_MS, HEAVY_MS = 300, 2000
HEAVY_ROUTES = (
    "POST /login",  # argon2id on purpose: 19 MiB and about 45 ms of one core per check
    "POST /dossiers/{id}/files",  # a 1 MB PDF, hashed and stored
    "POST /dossiers/{id}/submit",
)


def target_ms(route: str) -> int:
    return HEAVY_MS if route in HEAVY_ROUTES else PAGE_MS


@dataclass
class Recorder:
    """Latency (ms) of every request by route, errors by route, and the first distinct error
    samples with how often each occurred."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    samples: Counter = field(default_factory=Counter)  # keeps the order of first occurrence
    resent: Counter = field(default_factory=Counter)  # requests sent again, by route
    # (seconds since the start, route, ms) of every request, for the report's timeline
    timeline: list[tuple[float, str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    keep: int = 8

    def record(self, route: str, ms: float, problem: str = "") -> None:
        self.times[route].append(ms)
        self.timeline.append((time.monotonic() - self.started, route, ms))
        if problem:
            self.errors[route] += 1
            sample = f"{route}: {problem}"
            if sample in self.samples or len(self.samples) < self.keep:
                self.samples[sample] += 1

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.times.values())


class Failed(Exception):
    """A request of this scenario failed (already recorded): the user starts over."""


class TimeUp(Exception):
    """The run's duration is over: the user stops."""


def explain(response: httpx2.Response) -> str:
    """Status and the page's title or first error message, for an error sample."""
    text = response.text if "html" in response.headers.get("content-type", "") else ""
    found = [next(g for g in m.groups() if g) for m in MESSAGE_RE.finditer(text)][:2]
    words = " | ".join(html.unescape(re.sub(r"<[^>]+>|\s+", " ", s)).strip() for s in found)
    return f"HTTP {response.status_code} " + (words or repr(response.text[:120]))


class Browser:
    """One person at a browser: a session, the CSRF token of the last page, think time."""

    def __init__(
        self, base: str, rec: Recorder, think: tuple[float, float], ends: float, seed: int
    ) -> None:
        self.client = httpx2.AsyncClient(
            base_url=base, timeout=60.0, headers={"Accept-Encoding": "br, gzip"}
        )
        self.origin = base
        self.rec, self.think, self.ends = rec, think, ends
        self.rng = random.Random(seed)
        self.csrf = ""

    async def pause(self) -> None:
        """Think before the next step; TimeUp once the run is over."""
        await asyncio.sleep(self.rng.uniform(*self.think))
        if time.monotonic() >= self.ends:
            raise TimeUp

    async def call(
        self, method: str, url: str, route: str, expect: int = 200, **kwargs
    ) -> httpx2.Response:
        """One request, timed and recorded under `route`; Failed unless it answers `expect`."""
        if method == "POST":
            kwargs["headers"] = {"Origin": self.origin, **kwargs.get("headers", {})}
        started = time.perf_counter()
        try:
            try:
                response = await self.client.request(method, url, **kwargs)
            except CLOSED:
                # The server closed the kept-alive connection without answering (uvicorn does
                # when its event loop lags behind its keep-alive timer): like a browser, send
                # the request once more on a new connection; the time of both counts.
                self.rec.resent[route] += 1
                response = await self.client.request(method, url, **kwargs)
        except httpx2.HTTPError as exc:
            ms = (time.perf_counter() - started) * 1000
            self.rec.record(route, ms, f"{type(exc).__name__} {exc}".strip())
            raise Failed from None
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != expect:
            self.rec.record(route, ms, explain(response))
            raise Failed
        self.rec.record(route, ms)
        token = CSRF_RE.search(response.text) if expect == 200 else None
        if token:
            self.csrf = token.group(1)
        return response

    async def step(self, method: str, url: str, route: str, expect: int = 200, **kw):
        await self.pause()
        return await self.call(method, url, route, expect, **kw)

    async def post(self, url: str, route: str, data: dict, expect: int = 303, **kw):
        return await self.step(
            "POST", url, route, expect, data={"csrf_token": self.csrf, **data}, **kw
        )

    async def login(self, username: str, password: str) -> None:
        """The login page, the form, and the home page it leads to (a new CSRF token)."""
        while True:
            try:
                await self.step("GET", "/login", "GET /login")
                data = {"username": username, "password": password}
                await self.post("/login", "POST /login", data)
                await self.call("GET", "/", "GET /")
                return
            except Failed:
                continue

    async def run(self, scenario) -> None:
        """Repeat the scenario until the time is up; a failed request starts it over."""
        try:
            while True:
                try:
                    await scenario(self)
                except Failed:
                    continue
        except TimeUp:
            pass
        finally:
            await self.client.aclose()


async def anonymous(b: Browser) -> None:
    """A visitor browsing the catalogue: lists, a search (typed or live), procedure pages."""
    await b.step("GET", "/", "GET /")
    r = await b.step("GET", "/procedures", "GET /procedures")
    codes = PROCEDURE_RE.findall(r.text)
    for _ in range(b.rng.randint(1, 3)):
        q = b.rng.choice(SEARCHES)
        headers = HX if b.rng.random() < 0.5 else {}  # the search box swaps the results
        r = await b.step("GET", f"/procedures?q={quote(q)}", "GET /procedures?q=", headers=headers)
        codes = PROCEDURE_RE.findall(r.text) or codes
        if codes:
            code = b.rng.choice(codes)
            await b.step("GET", f"/procedures/{code}", "GET /procedures/{code}")
    r = await b.step("GET", "/procedures?page=2", "GET /procedures?page=2")
    codes = PROCEDURE_RE.findall(r.text)
    if codes:
        await b.step("GET", f"/procedures/{b.rng.choice(codes)}", "GET /procedures/{code}")


def answers(rng: random.Random) -> dict[str, str]:
    day = dt.date.today() - dt.timedelta(days=rng.randint(1, 20))
    return {
        "declaration_no": f"10{rng.randrange(10**10):010d}",
        "declaration_date": day.isoformat(),
        "declaration_type": rng.choice(["Nhập khẩu", "Xuất khẩu"]),
        "reason": rng.choice(REASONS),
    }


def enterprise(username: str, password: str, pdf: bytes):
    """An enterprise user: log in once, then file dossiers one after another (new draft, the
    form saved as it is typed, both documents attached as a 1 MB PDF each, review, submit,
    the receipt) and track them (the list and one dossier's page)."""
    mine: list[int] = []

    async def scenario(b: Browser) -> None:
        if not b.csrf:
            await b.login(username, password)
        await b.step("GET", f"/procedures/{PROCEDURE}", "GET /procedures/{code}")
        await b.step("GET", f"/dossiers/new?procedure={PROCEDURE}", "GET /dossiers/new")
        r = await b.post(
            "/dossiers/new", "POST /dossiers/new", {"procedure": PROCEDURE, "unit": UNIT}
        )
        edit = r.headers["location"]
        did = int(edit.split("/")[2])
        r = await b.call("GET", edit, "GET /dossiers/{id}/edit")
        documents = DOCUMENT_RE.findall(r.text)
        await b.post(edit, "POST /dossiers/{id}/edit (autosave)", answers(b.rng), 200, headers=HX)
        for doc in documents:
            files = {"file": ("de-nghi-huy-to-khai.pdf", pdf, "application/pdf")}
            await b.post(
                f"/dossiers/{did}/files",
                "POST /dossiers/{id}/files",
                {"document": doc},
                files=files,
            )
            await b.call("GET", edit, "GET /dossiers/{id}/edit")
        r = await b.step("GET", f"/dossiers/{did}/review", "GET /dossiers/{id}/review")
        key = SUBMIT_KEY_RE.search(r.text)
        if key is None:
            b.rec.record("GET /dossiers/{id}/review", 0, "no submit form: " + explain(r))
            raise Failed
        data = {"submit_key": key.group(1), "confirm": "1"}
        r = await b.post(f"/dossiers/{did}/submit", "POST /dossiers/{id}/submit", data)
        await b.call("GET", r.headers["location"], "GET /dossiers/{id}/receipt")
        mine.append(did)
        await b.step("GET", "/dossiers", "GET /dossiers")
        seen = b.rng.choice(mine)
        await b.step("GET", f"/dossiers/{seen}", "GET /dossiers/{id}")

    return scenario


def officer(username: str, password: str, claimed: set[int]):
    """An officer of the handling unit: the inbox, the new dossiers (the view's link swaps the
    results), then one dossier taken from there (`claimed` keeps two officers from taking the
    same one, as the unit's dispatcher would) opened and received; when none is waiting, an
    open dossier is looked at."""

    async def scenario(b: Browser) -> None:
        if not b.csrf:
            await b.login(username, password)
        r = await b.step("GET", "/officer/inbox", "GET /officer/inbox")
        opened = DOSSIER_RE.findall(r.text)
        r = await b.step(
            "GET",
            "/officer/inbox?view=new&sort=submitted",
            "GET /officer/inbox?view=new",
            headers=HX,
        )
        waiting = [int(i) for i in DOSSIER_RE.findall(r.text) if int(i) not in claimed]
        if not waiting:
            if opened:
                seen = b.rng.choice(opened)
                await b.step("GET", f"/dossiers/{seen}", "GET /dossiers/{id}")
            return
        did = waiting[0]
        claimed.add(did)
        await b.step("GET", f"/dossiers/{did}", "GET /dossiers/{id}")
        await b.post(
            f"/dossiers/{did}/actions/receive", "POST /dossiers/{id}/actions/receive", {"note": ""}
        )
        await b.call("GET", f"/dossiers/{did}", "GET /dossiers/{id}")

    return scenario
