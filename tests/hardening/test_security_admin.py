"""The admin: staff only, CSRF enforced, login throttled per client address, actions refused to
anyone who may not change the objects."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from ivsproject.api import throttling
from stages.models import Stage
from stages.services import stage_create
from tests.hardening.hashers import HASHERS, CountingHasher

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
CHANGELIST = "/admin/stages/stage/"
LOGIN = "/admin/login/"


NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _pinned_ratelimit_clock(monkeypatch):
    """The throttle's windows are fixed; pin its clock so a burst never straddles two."""
    monkeypatch.setattr(throttling, "clock", lambda: NOW)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def extra_stage(master_stage):
    return stage_create(name="guarded")


def user_with(*codenames: str, staff: bool = True):
    user = get_user_model().objects.create_user(f"u-{len(codenames)}-{staff}", password=PASSWORD, is_staff=staff)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def login_attempt(client: Client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def run_delete_action(client: Client, stage: Stage):
    return client.post(CHANGELIST, {"action": "delete_stages", "_selected_action": [stage.pk]})


# --- staff only -----------------------------------------------------------------------------------
def test_anonymous_visitors_are_sent_to_the_login(client):
    for path in ("/admin/", CHANGELIST, "/admin/viewers/viewersession/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(LOGIN), path


def test_a_non_staff_user_cannot_log_in_or_reach_the_admin(client, extra_stage):
    user = user_with("view_stage", "change_stage", staff=False)

    failed = login_attempt(client, user.username, PASSWORD)
    client.force_login(user)
    page = client.get(CHANGELIST)
    action = run_delete_action(client, extra_stage)

    assert failed.status_code == 200 and failed.context["form"].errors  # the form refuses non-staff
    assert page.status_code == 302 and page["Location"].startswith(LOGIN)
    assert action.status_code == 302 and action["Location"].startswith(LOGIN)
    extra_stage.refresh_from_db()
    assert extra_stage.status == Stage.Status.ACTIVE


def test_staff_without_permissions_is_refused_the_stage_pages(client, extra_stage):
    client.force_login(user_with())

    assert client.get(CHANGELIST).status_code == 403
    assert run_delete_action(client, extra_stage).status_code == 403
    assert Stage.objects.get(pk=extra_stage.pk).status == Stage.Status.ACTIVE


def test_view_only_staff_cannot_run_the_stage_delete_or_sync_actions(client, extra_stage):
    # Found by this test: actions without `allowed_permissions` are offered to anyone who may *view*
    # the changelist, so a read-only operator could delete stages in IVS.
    client.force_login(user_with("view_stage"))

    listing = client.get(CHANGELIST)
    deleted = run_delete_action(client, extra_stage)

    assert listing.status_code == 200
    assert "delete_stages" not in listing.content.decode()
    assert deleted.status_code in (200, 302)  # Django answers "no action selected"
    assert Stage.objects.get(pk=extra_stage.pk).status == Stage.Status.ACTIVE


def test_view_only_staff_cannot_disconnect_viewers(client, api, master_stage):
    from stages import presence
    from stages.ivs import emulator
    from viewers.models import ViewerSession

    token = api.post("/api/token/viewer", {"userId": "watched"}).json()["data"]["token"]
    participant = emulator.participant_join(stage_arn=master_stage.arn, token=token)
    session = ViewerSession.objects.get(user_id="watched")
    client.force_login(user_with("view_viewersession"))

    response = client.post(
        "/admin/viewers/viewersession/", {"action": "disconnect", "_selected_action": [session.pk]}, follow=True
    )

    # The changelist again, as it is shown to this user: no action offered, none run, no message.
    assert (response.status_code, response.redirect_chain) == (200, [])
    page = response.content.decode()
    assert "watched" in page and 'value="disconnect"' not in page
    assert [str(message) for message in response.context["messages"]] == []
    # Nothing happened: the session is open, the seat kept, the participant still in the stage.
    session.refresh_from_db()
    assert (session.left_at, session.leave_reason) == (None, "")
    assert presence.get_entry(stage_id=master_stage.stage_id, user_id="watched") is not None
    states = {p["participantId"]: p["state"] for p in emulator.describe_participants(master_stage.arn)}
    assert states[participant] == "CONNECTED"


def test_staff_with_change_permission_can_run_the_delete_action(client, extra_stage):
    client.force_login(user_with("view_stage", "change_stage"))

    run_delete_action(client, extra_stage)

    assert Stage.objects.get(pk=extra_stage.pk).status == Stage.Status.DELETED


# --- CSRF ---------------------------------------------------------------------------------------
def test_login_post_without_a_csrf_token_is_refused(superuser):
    client = Client(enforce_csrf_checks=True)

    response = login_attempt(client, "root", PASSWORD)

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_admin_action_without_a_csrf_token_is_refused(superuser, extra_stage):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)

    response = run_delete_action(client, extra_stage)

    assert response.status_code == 403
    assert Stage.objects.get(pk=extra_stage.pk).status == Stage.Status.ACTIVE


def test_admin_action_with_the_csrf_token_works(superuser, extra_stage):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    client.get(CHANGELIST)  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    response = client.post(
        CHANGELIST, {"action": "delete_stages", "_selected_action": [extra_stage.pk], "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    assert Stage.objects.get(pk=extra_stage.pk).status == Stage.Status.DELETED


# --- login throttle -----------------------------------------------------------------------------
def test_login_is_throttled_after_repeated_failures_even_for_the_right_password(client, superuser, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 5
    for _ in range(5):
        assert login_attempt(client, "root", "wrong").status_code == 200

    response = login_attempt(client, "root", PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "登入失敗次數過多" in response.content.decode()  # the admin speaks zh-Hant by default
    assert "_auth_user_id" not in client.session


def test_throttled_attempts_do_not_check_the_password(client, settings):
    # Observed through the password hasher the user's password is stored with: every check of a
    # password ends in its `verify`, whichever module called `authenticate`.
    settings.PASSWORD_HASHERS = HASHERS
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    CountingHasher.reset()
    for _ in range(2):
        assert login_attempt(client, "root", "wrong").status_code == 200
    assert CountingHasher.verified == 2  # the attempts within the limit are checked

    assert login_attempt(client, "root", "wrong").status_code == 429
    assert login_attempt(client, "root", PASSWORD).status_code == 429
    assert CountingHasher.verified == 2
    assert "_auth_user_id" not in client.session


def test_the_throttle_is_per_client_address(client, superuser, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        login_attempt(client, "root", "wrong", ip="198.51.100.1")

    assert login_attempt(client, "root", "wrong", ip="198.51.100.1").status_code == 429
    assert login_attempt(client, "root", PASSWORD, ip="198.51.100.2").status_code == 302


def test_successful_logins_do_not_count(client, superuser, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    for _ in range(4):
        assert login_attempt(client, "root", PASSWORD).status_code == 302
        client.logout()

    assert login_attempt(client, "root", PASSWORD).status_code == 302


def test_the_throttle_ends_with_its_window(client, superuser, settings, monkeypatch):
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    settings.ADMIN_LOGIN_WINDOW_SECONDS = 60
    for _ in range(2):
        login_attempt(client, "root", "wrong")
    assert login_attempt(client, "root", PASSWORD).status_code == 429

    monkeypatch.setattr(throttling, "clock", lambda: NOW + 121)

    assert login_attempt(client, "root", PASSWORD).status_code == 302


def test_login_still_works_when_the_throttle_store_is_down(client, superuser, settings, caplog):
    # The cache pointed at a port where nothing listens: every throttle read and write fails.
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}

    assert login_attempt(client, "root", PASSWORD).status_code == 302
    assert "admin login throttle unavailable" in caplog.text
