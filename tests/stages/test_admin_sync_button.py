""" "Sync with IVS" is a button on the stage changelist: a POST of its own (CSRF checked) to a custom
admin URL, answered with the sync's result as a message; no row needs to be selected."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from stages import ivs
from stages.models import Stage

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/stages/stage/"
SYNC = "/admin/stages/stage/sync/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def operator(*codenames: str) -> Client:
    user = get_user_model().objects.create_user(f"op-{'-'.join(codenames)}", password="pw-for-tests", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: Client) -> str:
    client.get(CHANGELIST)
    return client.cookies["csrftoken"].value


def orphan_in_ivs():
    return ivs.create_stage(name="orphan", tags={"Environment": "development", "ManagedBy": "api-server"})


def test_the_button_is_on_the_changelist_and_posts_to_the_sync_url(master_stage):
    page = operator("view_stage", "change_stage").get(CHANGELIST, **EN).content.decode()

    assert 'id="sync-with-ivs-form"' in page and f'action="{SYNC}"' in page
    assert 'method="post"' in page and "csrfmiddlewaretoken" in page
    assert "Sync with IVS" in page
    assert 'value="sync_with_ivs"' not in page  # no longer an action


def test_pressing_it_syncs_and_says_what_it_did(master_stage):
    orphan = orphan_in_ivs()
    client = operator("view_stage", "change_stage")

    response = client.post(SYNC, {"csrfmiddlewaretoken": csrf_token(client)}, follow=True, **EN)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert Stage.objects.filter(arn=orphan.arn).exists()
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["Synced with IVS: 1 adopted, 0 marked deleted, 0 updated, 1 unchanged."]


def test_the_result_is_in_the_operators_language(master_stage):
    orphan_in_ivs()
    client = operator("view_stage", "change_stage")

    response = client.post(SYNC, {"csrfmiddlewaretoken": csrf_token(client)}, follow=True)

    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("已與 IVS 同步") and "1" in message


def test_without_the_csrf_token_nothing_happens(master_stage):
    orphan = orphan_in_ivs()

    response = operator("view_stage", "change_stage").post(SYNC)

    assert response.status_code == 403
    assert not Stage.objects.filter(arn=orphan.arn).exists()


def test_a_get_does_not_sync(master_stage):
    orphan = orphan_in_ivs()

    response = operator("view_stage", "change_stage").get(SYNC)

    assert response.status_code == 405
    assert not Stage.objects.filter(arn=orphan.arn).exists()


def test_a_view_only_operator_sees_no_button_and_cannot_sync(master_stage):
    orphan = orphan_in_ivs()
    client = operator("view_stage")

    page = client.get(CHANGELIST, **EN).content.decode()
    response = client.post(SYNC, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})

    assert "sync-with-ivs-form" not in page
    assert response.status_code == 403
    assert not Stage.objects.filter(arn=orphan.arn).exists()


def test_anonymous_visitors_are_sent_to_the_login(master_stage):
    response = Client().post(SYNC)

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
