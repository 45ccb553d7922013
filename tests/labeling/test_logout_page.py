import re

from django.test import Client


def test_get_logout_shows_a_styled_page_with_a_post_button_and_keeps_the_session(client, make_user):
    client.force_login(make_user("ann"))
    response = client.get("/logout/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/static/labeling/app.css"' in html  # the project's base template
    form = re.search(r'<form method="post" action="/logout/">(.*?)</form>', html, re.S)
    assert form and 'name="csrfmiddlewaretoken"' in form.group(1) and "Log out</button>" in form.group(1)
    assert client.get("/").status_code == 200  # a GET logs nobody out


def test_logout_post_needs_the_csrf_token(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("ann"))
    page = client.get("/logout/").content.decode()
    assert client.post("/logout/").status_code == 403
    assert client.get("/").status_code == 200  # still logged in
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302  # logged out


def test_nav_logout_is_a_post_form(client, make_user):
    client.force_login(make_user("ann"))
    html = client.get("/").content.decode()
    nav_form = re.search(r'<form method="post" action="/logout/"[^>]*>(.*?)</form>', html, re.S)
    assert nav_form and 'name="csrfmiddlewaretoken"' in nav_form.group(1)
    assert 'href="/logout/"' not in html


def test_logout_anonymous_get_and_other_methods(client):
    assert "Log in" in client.get("/logout/").content.decode()
    response = client.put("/logout/")
    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert '<p class="error-code">405</p>' in response.content.decode()
