import re, pytest
from starlette.testclient import TestClient
from tests.helpers import HX, csrf_from
from portal.services import catalogue
from portal.models import Procedure
from portal.db import db

def test_agency(client):
    with db.connection_context():
        ags = catalogue.facets()["agencies"]
    for a in ags:
        r = client.get("/procedures", params={"agency": a, "page": "1"})
        with db.connection_context():
            exp = [p.code for p in Procedure.select() if a in [x.strip() for x in p.implementing_agency.split(";")]]
        m = re.search(r"of (\d+) procedures", r.text)
        print(repr(a), len(exp), m and m.group(1))

def test_sort(client):
    r = client.get("/procedures", params={"q": "hai quan", "sort": "code"})
    print(re.findall(r'rel="next" href="([^"]+)"', r.text))

def admin_tok(client, make_user, login):
    login(make_user("admin"))
    return csrf_from(client.get("/admin/catalogue").text)

def test_fee(client, make_user, login):
    t = admin_tok(client, make_user, login)
    with db.connection_context():
        data = catalogue.form_values(catalogue.get_procedure("1.005458"))
    data.update(fee_amount="3000000000", csrf_token=t)
    r = client.post("/admin/procedures/1.005458", data=data, follow_redirects=False)
    print("fee", r.status_code)

def test_types(client, make_user, login):
    t = admin_tok(client, make_user, login)
    with db.connection_context():
        data = catalogue.form_values(catalogue.get_procedure("1.005458"))
    data.update(documents="Tờ khai | mandatory | " + ",".join(["pdf"]*20), csrf_token=t)
    r = client.post("/admin/procedures/1.005458", data=data, follow_redirects=False)
    print("types", r.status_code)

def test_demo(client, make_user, login):
    t = admin_tok(client, make_user, login)
    csv_text = client.get("/admin/catalogue/export?format=csv").text
    lines = csv_text.splitlines()
    import csv, io
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    rows = rows[:1]
    rows[0]["demo_fields"] = ",".join(["times"]*60)
    out = io.StringIO(); w = csv.DictWriter(out, fieldnames=list(rows[0].keys())); w.writeheader(); w.writerows(rows)
    r = client.post("/admin/catalogue/import", data={"csrf_token": t, "confirm": "1"}, files={"file": ("p.csv", out.getvalue().encode(), "text/csv")}, follow_redirects=False)
    print("demo", r.status_code)

def test_csvlimit(client, make_user, login):
    t = admin_tok(client, make_user, login)
    content = ("code,name\n1.000001,\"" + "a"*200000 + "\"\n").encode()
    r = client.post("/admin/catalogue/import", data={"csrf_token": t, "confirm": "1"}, files={"file": ("p.csv", content, "text/csv")}, follow_redirects=False)
    print("csvlimit", r.status_code)

def test_jsondeep(client, make_user, login):
    t = admin_tok(client, make_user, login)
    content = ("[" * 100000 + "]" * 100000).encode()
    r = client.post("/admin/catalogue/import", data={"csrf_token": t, "confirm": "1"}, files={"file": ("p.json", content, "application/json")}, follow_redirects=False)
    print("jsondeep", r.status_code)

def test_longemail(client):
    t = csrf_from(client.get("/register").text)
    email = "a"*70 + "@example.vn"
    r = client.post("/register", data={"csrf_token": t, "tax_code": "0100109106", "enterprise_name": "Cty B", "full_name": "Nguyen B", "email": email, "password": "Mat-khau-rat-manh-9", "password_confirm": "Mat-khau-rat-manh-9"}, follow_redirects=False)
    print("longemail", r.status_code)
    client.cookies.clear()
    t = csrf_from(client.get("/login").text)
    r = client.post("/login", data={"csrf_token": t, "username": email, "password": "Mat-khau-rat-manh-9"}, follow_redirects=False)
    print("longemail login", r.status_code)

def test_500(app):
    from starlette.routing import Route
    from portal.web.security import guard
    @guard("public")
    async def boom(request):
        raise RuntimeError("boom")
    app.router.routes.append(Route("/boom", boom))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
        print("500", r.status_code, dict(r.headers), r.text[:300])
