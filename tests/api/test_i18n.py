"""Messages are the spec's zh-Hant by default and English with `Accept-Language: en`; codes never change."""

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import translation

from tests.admin_texts import po_entries
from tests.api.helpers import AUTH, assert_error

pytestmark = [pytest.mark.urls("tests.api.urls"), pytest.mark.django_db]

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
APP_DIRS = ["ivsproject", "stages", "tokens", "viewers", "stats", "autoscaling", "reports"]
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy"}
CONTEXT_NAMES = {"pgettext", "pgettext_lazy"}  # (context, message)


def test_default_language_is_zh_hant(client):
    error = assert_error(client.get("/api/test/ping"), 401, "UNAUTHORIZED")

    assert error["message"] == "未授權：缺少或無效的 API 金鑰"


def test_english_when_asked(client):
    response = client.get("/api/test/ping", **EN)

    error = assert_error(response, 401, "UNAUTHORIZED")
    assert error["message"] == "Unauthorized: missing or invalid API key"
    assert response["Content-Language"] == "en"


@pytest.mark.parametrize("header", ["en-US,en;q=0.9", "en-GB", "fr;q=0.8, en;q=0.9"])
def test_english_variants_get_english(client, header):
    error = assert_error(client.get("/api/test/ping", HTTP_ACCEPT_LANGUAGE=header), 401, "UNAUTHORIZED")

    assert error["message"] == "Unauthorized: missing or invalid API key"


@pytest.mark.parametrize("header", ["zh-TW", "zh-Hant", "ja", "de-DE", "*"])
def test_other_languages_get_zh_hant(client, header):
    error = assert_error(client.get("/api/test/ping", HTTP_ACCEPT_LANGUAGE=header), 401, "UNAUTHORIZED")

    assert error["message"] == "未授權：缺少或無效的 API 金鑰"


def test_missing_field_message_in_english(client):
    response = client.post("/api/test/echo", {}, content_type="application/json", **AUTH, **EN)

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "Missing userId"
    assert error["details"]["missingFields"] == ["userId"]


def test_several_missing_fields_message_in_english(client):
    response = client.post("/api/test/pair", {}, content_type="application/json", **AUTH, **EN)

    assert assert_error(response, 400, "VALIDATION_ERROR")["message"] == "Missing required parameters"


def test_unknown_route_in_english(client):
    assert assert_error(client.get("/api/nope", **EN), 404, "NOT_FOUND")["message"] == "Resource not found"


def test_oversized_body_refused_by_middleware_in_english(client):
    body = json.dumps({"userId": "x" * 200_000})

    response = client.post("/api/test/echo", body, content_type="application/json", **AUTH, **EN)

    assert assert_error(response, 400, "VALIDATION_ERROR")["message"] == "Request body is too large"


def test_rate_limit_message_in_english(client, settings, frozen_ratelimit_clock):
    settings.RATE_LIMIT_PER_MINUTE = 1
    client.get("/api/test/ping", **AUTH)

    error = assert_error(client.get("/api/test/ping", **AUTH, **EN), 429, "RATE_LIMIT_EXCEEDED")

    assert error["message"] == "Too many requests, please try again later"


def test_english_request_does_not_leak_into_the_next_one(client):
    client.get("/api/test/ping", **EN)

    error = assert_error(client.get("/api/test/ping"), 401, "UNAUTHORIZED")

    assert error["message"] == "未授權：缺少或無效的 API 金鑰"


def test_english_request_does_not_leak_into_the_next_middleware_error(client):
    client.get("/api/test/ping", **EN)
    body = json.dumps({"userId": "x" * 200_000})

    response = client.post("/api/test/echo", body, content_type="application/json", **AUTH)

    assert assert_error(response, 400, "VALIDATION_ERROR")["message"] == "請求內容過大"


def translatable_literals():
    """Every string literal passed to a gettext function in the project's own code."""
    base = Path(django_settings.BASE_DIR)
    for app in APP_DIRS:
        if not (base / app).is_dir():
            continue
        for path in sorted((base / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                    continue
                if node.func.id in GETTEXT_NAMES:
                    context, args = None, node.args
                elif node.func.id in CONTEXT_NAMES and node.args and isinstance(node.args[0], ast.Constant):
                    context, args = node.args[0].value, node.args[1:]
                else:
                    continue
                if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                    yield f"{path.relative_to(base)}:{node.lineno}", context, args[0].value


def test_every_message_has_an_english_translation():
    literals = list(translatable_literals())
    assert literals, "found no translatable strings at all"
    with translation.override("en"):
        untranslated = [
            (where, text)
            for where, context, text in literals
            if not text.isascii()
            and (translation.pgettext(context, text) if context else translation.gettext(text)) == text
        ]
    assert not untranslated, (
        "Untranslated messages; run `.venv/bin/python manage.py makemessages -l en --ignore .venv --ignore var "
        "--no-location`, fill locale/en/LC_MESSAGES/django.po, then "
        f"`.venv/bin/python manage.py compilemessages -l en --ignore .venv`: {untranslated}"
    )


# --- data fields are never translated ---------------------------------------------------------
LANGUAGES = [{"HTTP_ACCEPT_LANGUAGE": "en"}, {"HTTP_ACCEPT_LANGUAGE": "zh-TW"}, {}]


@pytest.mark.parametrize(("seconds", "formatted"), [(30 * 60 + 45, "30分 45秒"), (3600 + 2 * 60 + 3, "1小時 2分 3秒")])
@pytest.mark.parametrize("form", ["stage", "room"])
def test_watch_duration_formatted_is_the_same_in_every_language(api, master_stage, clock, form, seconds, formatted):
    """`watchDurationFormatted` is data (the contract's zh-Hant format); only `message` texts follow
    Accept-Language. Both the stage form and the room form of the endpoint, through HTTP."""
    if form == "room":
        created = api.post("/api/rooms", {"roomId": "r1"})
        assert created.status_code == 201, created.content
        token = api.post("/api/token/viewer", {"userId": "watcher", "roomId": "r1"}).json()["data"]
        query = {"userId": "watcher", "roomId": "r1"}
    else:
        token = api.post("/api/token/viewer", {"userId": "watcher"}).json()["data"]
        query = {"userId": "watcher", "stageArn": token["stageArn"]}
    clock.advance(seconds)

    answers = []
    for headers in LANGUAGES:
        response = api.get("/api/viewer/duration", query, **headers)
        assert response.status_code == 200, response.content
        answers.append(response.json()["data"]["watchDurationFormatted"])
    # The message of the same endpoint does follow the language: the 404 for an unknown viewer.
    missing = {**query, "userId": "nobody"}
    english = api.get("/api/viewer/duration", missing, HTTP_ACCEPT_LANGUAGE="en").json()["error"]["message"]
    chinese = api.get("/api/viewer/duration", missing, HTTP_ACCEPT_LANGUAGE="zh-TW").json()["error"]["message"]

    assert answers == [formatted] * 3
    assert english.isascii() and not chinese.isascii()


# Names that read the same in both languages (identifiers and product names).
SAME_IN_BOTH = {"roomId", "userId", "participantId", "ARN", "Stage", "Home", "Django site admin"}


def test_every_english_message_of_ours_has_a_zh_hant_translation():
    """The admin follows the browser's language: the few English msgids of our code (the login
    throttle's message) must read in zh-Hant too, or a zh-Hant operator sees English."""
    literals = [(w, c, t) for w, c, t in translatable_literals() if t.isascii() and t not in SAME_IN_BOTH]
    with translation.override("zh-hant"):
        untranslated = [
            (where, text)
            for where, context, text in literals
            if (translation.pgettext(context, text) if context else translation.gettext(text)) == text
        ]
    assert not untranslated, f"add zh-Hant translations in locale/zh_Hant/LC_MESSAGES/django.po: {untranslated}"


@pytest.mark.parametrize("language", ["en", "zh_Hant"])
def test_each_catalog_is_complete_and_compiled(language, tmp_path):
    """No fuzzy entry (gettext ignores them) and no empty translation where one is needed, and the
    committed .mo is the .po compiled (a fresh clone runs without compilemessages)."""
    po = Path(django_settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / "django.po"
    entries = [(flags, text, strs) for flags, _context, text, strs in po_entries(po)]
    assert entries
    fuzzy = [text for flags, text, _strs in entries if "fuzzy" in flags]
    # English msgids may stay untranslated in the English catalog; everything else needs its text.
    empty = [text for _f, text, strs in entries if not all(strs) and not (language == "en" and text.isascii())]
    assert not fuzzy and not empty, (fuzzy, empty)

    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (GNU gettext) is not installed")
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt, "--check-format", "-o", str(fresh), str(po)], check=True)
    assert po.with_suffix(".mo").read_bytes() == fresh.read_bytes(), (
        f"locale/{language}/LC_MESSAGES/django.mo is older than its .po: run manage.py compilemessages --ignore .venv"
    )
