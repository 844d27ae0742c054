"""The admin follows the browser's language: the same operator pages in English and in zh-Hant, and
every text of ours in the page's language (checked against the catalogs), Django's own included."""

from __future__ import annotations

import pytest

from stages.models import Stage
from stages.rooms import room_create
from stages.services import stage_create
from tests.admin_texts import leftovers, visible_texts
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-TW,zh;q=0.9"}


@pytest.fixture
def world(staff_client, api, master_stage):
    """A room, an overflow stage, a viewer watching and one who left: every column has a value."""
    room_create(room_id="seller-1", name="Seller One")
    stage_create(name="extra-stage")
    api.post("/api/token/viewer", {"userId": "alice"})
    api.post("/api/token/viewer", {"userId": "bob"})
    api.post("/api/viewer/leave", {"userId": "bob", "stageArn": master_stage.arn})
    return staff_client


def pages() -> list[str]:
    stage = Stage.objects.get(name="extra-stage")
    session = ViewerSession.objects.get(user_id="bob")
    return [
        "/admin/",
        "/admin/stages/",
        "/admin/stages/stage/",
        "/admin/stages/stage/?status__exact=active",
        "/admin/stages/stage/add/",
        f"/admin/stages/stage/{stage.pk}/change/",
        "/admin/stages/room/",
        "/admin/stages/room/add/",
        "/admin/stages/room/seller-1/change/",
        "/admin/viewers/viewersession/",
        f"/admin/viewers/viewersession/{session.pk}/change/",
        "/admin/dashboard/",
    ]


def data_of_the_world() -> list[str]:
    """User data and values shown as they are in both languages."""
    values = ["Seller One", "seller-1", "alice", "bob", "default", "extra-stage", "master-stage"]
    values += list(Stage.objects.values_list("arn", flat=True)) + list(Stage.objects.values_list("name", flat=True))
    values += [Stage.objects.get(name=n).stage_id for n in ("extra-stage", "master-stage")]
    return values


@pytest.mark.parametrize(
    ("headers", "language", "sample"), [(EN, "en", "Sync with IVS"), (ZH, "zh-hant", "與 IVS 同步")]
)
def test_every_page_is_in_the_browsers_language(world, headers, language, sample):
    problems = {}
    for path in pages():
        response = world.get(path, **headers)
        assert response.status_code == 200, path
        assert response["Content-Language"] == language, path
        wrong = leftovers(visible_texts(response.content.decode()), language, data_of_the_world())
        if wrong:
            problems[path] = wrong
    assert not problems, problems
    assert sample in world.get("/admin/stages/stage/", **headers).content.decode()


def test_nothing_matching_means_zh_hant(world):
    page = world.get("/admin/stages/stage/", HTTP_ACCEPT_LANGUAGE="fr-FR").content.decode()

    assert "與 IVS 同步" in page and "Sync with IVS" not in page


def test_model_and_choice_names_follow_the_language(world):
    english = world.get("/admin/stages/stage/", **EN).content.decode()
    chinese = world.get("/admin/stages/stage/", **ZH).content.decode()

    assert "Select stage to change" in english and "live viewers" in english.lower()
    assert "overflow (auto-scaled)" in english or "manual" in english
    assert "即時觀眾" in chinese and "手動建立" in chinese


def test_the_login_throttle_message_follows_the_language(client, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 0
    body = {"username": "x", "password": "y", "next": "/admin/"}

    english = client.post("/admin/login/", body, **EN).content.decode()
    chinese = client.post("/admin/login/", body, **ZH).content.decode()

    assert "Too many failed login attempts" in english
    assert "登入失敗次數過多" in chinese
