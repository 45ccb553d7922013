"""Password guessing is locked out (django-axes), and the demo logins with published passwords
exist only in demo mode."""

import stat
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from labeling.models import Project
from labeling.services.demo import DemoRefused, demo_accounts_with_known_passwords, demo_ensure

LIMIT = django_settings.AXES_FAILURE_LIMIT


def _login(client, url: str, username: str, password: str, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def _logged_in_as(client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id).username if user_id else None


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_fifty_wrong_passwords_then_the_right_one_is_refused(client, make_user, url):
    make_user("victim", is_staff=True)
    for _ in range(50):
        assert _login(client, url, "victim", "guess").status_code in (200, 429)
    response = _login(client, url, "victim", "pw-victim")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert _logged_in_as(client) is None


def test_the_lock_starts_at_the_limit_and_a_success_below_it_resets_the_count(client, make_user):
    make_user("ann")
    for _ in range(LIMIT - 1):
        assert _login(client, "/login/", "ann", "wrong").status_code == 200  # the form again, with its error
    assert _login(client, "/login/", "ann", "pw-ann").status_code == 302
    assert _logged_in_as(client) == "ann"
    client.logout()
    for _ in range(LIMIT - 1):
        _login(client, "/login/", "ann", "wrong")
    assert _login(client, "/login/", "ann", "pw-ann").status_code == 302  # the count started again
    client.logout()
    for _ in range(LIMIT):
        _login(client, "/login/", "ann", "wrong")
    assert _login(client, "/login/", "ann", "pw-ann").status_code == 429


def test_the_lock_is_per_username_and_address_and_ends_after_the_cooloff(client, make_user):
    make_user("ann"), make_user("bob")
    for _ in range(LIMIT):
        _login(client, "/login/", "ann", "wrong")
    assert _login(client, "/login/", "ann", "pw-ann").status_code == 429
    assert _login(client, "/login/", "bob", "pw-bob").status_code == 302  # another account is not locked
    client.logout()
    other_address = _login(client, "/login/", "ann", "pw-ann", REMOTE_ADDR="10.0.0.9")
    assert other_address.status_code == 302
    client.logout()
    AccessAttempt.objects.update(attempt_time=timezone.now() - django_settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert _login(client, "/login/", "ann", "pw-ann").status_code == 302


def test_demo_accounts_are_refused_with_debug_off(db, settings, tmp_path):
    settings.VAR_DIR, settings.DEBUG = tmp_path, False
    with pytest.raises(DemoRefused, match="demo mode"):
        demo_ensure()
    assert not get_user_model().objects.exists() and not Project.objects.exists()


def test_serve_refuses_demo_mode_with_debug_off(db, settings, tmp_path):
    settings.VAR_DIR, settings.DEBUG = tmp_path, False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("serve", "--demo", "--no-worker")
    with pytest.raises(CommandError, match="goes with --demo"):
        call_command("serve", "--demo-without-debug", "--no-worker")
    assert not get_user_model().objects.filter(username="admin").exists()


@pytest.mark.parametrize("mode", ["debug", "explicit"])
def test_demo_accounts_in_demo_mode_and_the_token_file_is_private(db, settings, tmp_path, mode):
    settings.VAR_DIR, settings.DEBUG = tmp_path, mode == "debug"
    info = demo_ensure(without_debug=mode == "explicit")
    assert info.created and info.token
    assert sorted(demo_accounts_with_known_passwords()) == ["admin", "annotator"]
    token_file = tmp_path / "demo_api_token.txt"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == info.token


def test_a_token_file_written_world_readable_before_is_made_private(db, settings, tmp_path):
    settings.VAR_DIR, settings.DEBUG = tmp_path, True
    demo_ensure()
    token_file = tmp_path / "demo_api_token.txt"
    token_file.chmod(0o644)
    assert demo_ensure().token == token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
