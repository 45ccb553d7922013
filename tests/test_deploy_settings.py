"""The production environment block in the README passes `manage.py check --deploy` with no
warning, and every response carries the Content-Security-Policy."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- production-env -->\s*```sh\n(.*?)```", re.S)
# Settings the block controls; anything like them in the test's own environment is dropped.
OURS = re.compile(r"^(DJANGO_|PREFLAB_|DATABASE_URL|CELERY_)")


def production_env(var_dir: Path) -> dict[str, str]:
    block = BLOCK.search((ROOT / "README.md").read_text())
    assert block, "README.md has no <!-- production-env --> block"
    env = {k: v for k, v in os.environ.items() if not OURS.match(k)}
    for line in block.group(1).splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = secrets.token_urlsafe(50) if value.startswith("<") else value
    env["PREFLAB_VAR_DIR"] = str(var_dir)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_check_deploy_is_clean_under_the_readme_production_block(tmp_path):
    env = production_env(tmp_path)
    assert env["DJANGO_SECURE_SSL_REDIRECT"] == "1" and len(env["DJANGO_SECRET_KEY"]) >= 50
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_catches_each_setting_left_out(tmp_path):
    """The clean result above is earned by the block: drop a line and its warning comes back."""
    env = production_env(tmp_path)
    for name, warning in [("DJANGO_SECURE_HSTS_SECONDS", "security.W004"),
                          ("DJANGO_SECURE_SSL_REDIRECT", "security.W008"),
                          ("DJANGO_SESSION_COOKIE_SECURE", "security.W012"),
                          ("DJANGO_CSRF_COOKIE_SECURE", "security.W016")]:
        result = check_deploy({k: v for k, v in env.items() if k != name})
        assert result.returncode != 0 and warning in result.stderr + result.stdout, name


@pytest.mark.parametrize("path", ["/login/", "/api/docs/", "/admin/login/", "/api/schema/"])
def test_every_page_carries_the_content_security_policy(client, db, path):
    response = client.get(path)
    assert response.status_code == 200, path
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_pages_have_no_inline_script(client, make_project, make_user):
    make_project("pairs")
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    for path in ("/", "/label/pairs/", "/history/", "/review/", "/api/docs/", "/admin/", "/admin/labeling/task/"):
        html = client.get(path).content.decode()
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert all("src=" in tag for tag in scripts), (path, scripts)
        assert not re.search(r"\son[a-z]+\s*=", html.replace("onerror=", "")), path  # no inline handlers


def test_pages_have_no_inline_style_and_the_policy_allows_none(client, make_project, make_user):
    from labeling.services.ingestion import items_ingest
    from tests.factories import item

    project = make_project("pairs")
    items_ingest(project=project, items=[item("p1")])
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    paths = ("/", "/label/pairs/", "/history/", "/logout/", "/no/such/page/", "/review/", "/review/pairs/",
             "/review/pairs/annotators/", "/review/pairs/flagged/?queue=all", "/review/pairs/audit/", "/api/docs/",
             "/admin/", "/admin/labeling/task/", f"/admin/labeling/project/{project.pk}/change/")
    for path in paths:
        response = client.get(path)
        style_src = response["Content-Security-Policy"].split("style-src")[1].split(";")[0]
        assert style_src.strip() == "'self'", path
        html = response.content.decode()
        # SVG presentation attributes (fill=, stroke=) are fine under the policy; style= and <style> are not.
        assert not re.search(r"\sstyle\s*=|<style\b", html), path
