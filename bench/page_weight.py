"""Page weight and load time of the key pages on a slow link, in a real browser.

    .venv/bin/python bench/page_weight.py [--runs 3]

Starts the portal (uvicorn, one process, SQLite, demo data) and loads each key page in headless
Debian chromium (playwright), logged in where the page needs it, with the network emulated
through the DevTools protocol: 256 kbit/s down and up, 400 ms latency. Cold: the cache off.
Warm: the same page again with the cache on. For each it prints the bytes on the wire (sum of
`encodedDataLength`, headers included), the number of requests, and `loadEventEnd` (median of
--runs loads). Then the size on the wire of the htmx fragments the pages use.

Budgets (issue 4): cold <= 20 KB and <= 1.5 s; warm <= 5 KB and <= 0.6 s; fragments <= 4 KB.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import start_server, stop_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "demo-portal-2026"
ENTERPRISE, OFFICER, LEADER = "doanhnghiep@example.vn", "canbo.02ci", "lanhdao.02ci"
LINK = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 32_000,
    "uploadThroughput": 32_000,
}  # 256 kbit/s = 32,000 bytes/s
BUDGET = {
    "cold_bytes": 20 * 1024,
    "cold_ms": 1500,
    "warm_bytes": 5 * 1024,
    "warm_ms": 600,
    "fragment_bytes": 4 * 1024,
}


def login(browser, base: str, username: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.close()
    return context


def measure(context, url: str, cold: bool) -> tuple[int, int, float]:
    """(bytes on the wire, requests, loadEventEnd ms) of one load of `url` in `context`."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": cold})
    cdp.send("Network.emulateNetworkConditions", LINK)
    sizes: dict[str, float] = {}
    requests: set[str] = set()
    cdp.on("Network.requestWillBeSent", lambda e: requests.add(e["requestId"]))
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto(url, wait_until="load")
    page.wait_for_timeout(200)  # let the last loadingFinished events arrive
    load_ms = page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
    page.close()
    return int(sum(sizes.values())), len(requests), float(load_ms)


def wire_size(
    port: int,
    cookie: str,
    method: str,
    path: str,
    body: dict | None = None,
    headers: dict | None = None,
) -> tuple[int, int]:
    """(status, bytes on the wire incl. status line and headers) of one htmx request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    all_headers = {
        "Accept-Encoding": "br, gzip",
        "HX-Request": "true",
        "Cookie": cookie,
        **(headers or {}),
    }
    data = None
    if body is not None:
        data = urlencode(body)
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=all_headers)
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    head = (
        len(f"HTTP/1.1 {r.status} {r.reason}\r\n")
        + sum(len(k) + len(v) + 4 for k, v in r.getheaders())
        + 2
    )
    return r.status, head + len(payload)


def cookie_and_csrf(context, base: str) -> tuple[str, str]:
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(base))
    page = context.new_page()
    page.goto(f"{base}/notifications")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    page.close()
    return cookie, token


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="loads per page and cache state")
    ap.add_argument("--port", type=int, default=8767)
    args = ap.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        proc = start_server(Path(tmp), args.port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                run(browser, base, args)
                browser.close()
        finally:
            stop_server(proc)


def run(browser, base: str, args: argparse.Namespace) -> None:
    anonymous = browser.new_context()
    enterprise = login(browser, base, ENTERPRISE)
    officer = login(browser, base, OFFICER)
    leader = login(browser, base, LEADER)
    # The demo enterprise's first dossier (the demo data has three, at 02CI).
    page = enterprise.new_page()
    page.goto(f"{base}/dossiers")
    href = page.locator("#results a[href^='/dossiers/']").first.get_attribute("href") or ""
    did = int(re.search(r"/dossiers/(\d+)", href).group(1))  # type: ignore[union-attr]
    page.close()
    draft_page = enterprise.new_page()
    draft_page.goto(f"{base}/dossiers/new?procedure=1.005458")
    draft_page.select_option("#f-unit", "02CI")
    draft_page.click("form[action='/dossiers/new'] button[type=submit]")
    draft_page.wait_for_url(re.compile(r".*/dossiers/\d+/edit$"))
    draft = int(re.search(r"/dossiers/(\d+)/edit", draft_page.url).group(1))  # type: ignore[union-attr]
    draft_page.close()
    pages = [
        ("home", anonymous, "/"),
        ("catalogue", anonymous, "/procedures"),
        ("catalogue search", anonymous, "/procedures?q=huy+to+khai"),
        ("procedure page", anonymous, "/procedures/1.005458"),
        ("login", anonymous, "/login"),
        ("new dossier form", enterprise, "/dossiers/new?procedure=1.005458"),
        ("dossier form (draft)", enterprise, f"/dossiers/{draft}/edit"),
        ("dossier tracking", enterprise, f"/dossiers/{did}"),
        ("officer inbox", officer, "/officer/inbox"),
        ("officer dossier page", officer, f"/dossiers/{did}"),
        ("statistics", leader, "/statistics"),
    ]
    print(
        f"link: {LINK['downloadThroughput'] * 8 // 1000} kbit/s down and up, "
        f"{LINK['latency']} ms latency; median of {args.runs} loads"
    )
    print(
        f"{'page':22} {'cold B':>7} {'req':>4} {'cold ms':>8} {'warm B':>7} {'req':>4} "
        f"{'warm ms':>8}  budget"
    )
    over = 0
    for name, context, path in pages:
        cold = [measure(context, base + path, cold=True) for _ in range(args.runs)]
        measure(context, base + path, cold=False)  # fill the cache
        warm = [measure(context, base + path, cold=False) for _ in range(args.runs)]
        cb, cr, cm = (statistics.median(x) for x in zip(*cold, strict=True))
        wb, wr, wm = (statistics.median(x) for x in zip(*warm, strict=True))
        ok = (
            cb <= BUDGET["cold_bytes"]
            and cm <= BUDGET["cold_ms"]
            and wb <= BUDGET["warm_bytes"]
            and wm <= BUDGET["warm_ms"]
        )
        over += not ok
        print(
            f"{name:22} {cb:7.0f} {cr:4.0f} {cm:8.0f} {wb:7.0f} {wr:4.0f} {wm:8.0f}  "
            f"{'ok' if ok else 'OVER'}"
        )

    port = int(base.rsplit(":", 1)[1])
    e_cookie, e_csrf = cookie_and_csrf(enterprise, base)
    o_cookie, _ = cookie_and_csrf(officer, base)
    l_cookie, _ = cookie_and_csrf(leader, base)
    fragments = [
        ("catalogue search results", "", "GET", "/procedures?q=huy+to+khai", None),
        ("catalogue next page", "", "GET", "/procedures?page=2", None),
        ("my dossiers filter", e_cookie, "GET", "/dossiers?status=1", None),
        (
            "draft autosave",
            e_cookie,
            "POST",
            f"/dossiers/{draft}/edit",
            {"csrf_token": e_csrf, "reason": "Hàng không xuất khẩu được"},
        ),
        ("officer inbox filter", o_cookie, "GET", "/officer/inbox?view=all", None),
        ("statistics filter", l_cookie, "GET", "/statistics?page=1", None),
    ]
    print()
    print(f"{'htmx fragment':28} {'status':>6} {'wire B':>7}  budget")
    for name, cookie, method, path, body in fragments:
        status, size = wire_size(port, cookie, method, path, body)
        ok = size <= BUDGET["fragment_bytes"] and status < 400
        over += not ok
        print(f"{name:28} {status:6d} {size:7d}  {'ok' if ok else 'OVER'}")
    print()
    print("all within budget" if over == 0 else f"{over} over budget")


if __name__ == "__main__":
    main()
