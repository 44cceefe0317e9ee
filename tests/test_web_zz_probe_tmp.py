import pytest
from tests.helpers import HX, csrf_from

CASES = [
    "/procedures?level=%C2%B2", "/procedures?page=%C2%B2", "/procedures?agency=%00", "/procedures?field=%00",
    "/procedures?q=%00abc", "/procedures/1.00545%00", "/procedures?implementing_level=%00",
]

@pytest.mark.parametrize("url", CASES)
def test_anon(client, url):
    r = client.get(url)
    print(url, r.status_code)

ADMIN = ["/admin/users?page=%C2%B2", "/admin/users?q=%00", "/admin/users/%C2%B2", "/admin/units/%00", "/admin/units?structure=%00",
         "/admin/procedures/%00", "/admin/units/new?parent=%00"]
@pytest.mark.parametrize("url", ADMIN)
def test_admin(client, make_user, login, url):
    login(make_user("admin"))
    r = client.get(url)
    print(url, r.status_code)

def test_login_nul(client):
    t = csrf_from(client.get("/login").text)
    r = client.post("/login", data={"username": "a\x00b", "password": "x"*10, "csrf_token": t})
    print("login nul", r.status_code)
