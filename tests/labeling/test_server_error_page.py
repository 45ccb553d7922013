import pytest
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom), *project_urlpatterns]


@pytest.mark.urls(__name__)
def test_a_server_error_shows_the_styled_500_page(client, settings, make_user):
    settings.DEBUG = False
    client.raise_request_exception = False
    client.force_login(make_user("ann"))
    response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert '<p class="error-code">500</p>' in html
    assert 'href="/static/labeling/app.css"' in html and "favicon.svg" in html
    assert "a bug" not in html and "RuntimeError" not in html  # nothing of the error itself
    assert "Content-Security-Policy" in response
    # The stylesheet the page names is served at that address.
    assert client.get("/static/labeling/app.css").status_code == 200


def test_the_500_template_has_no_template_tags():
    from pathlib import Path

    import labeling

    source = (Path(labeling.__file__).parent / "templates" / "500.html").read_text()
    assert "{%" not in source and "{{" not in source
