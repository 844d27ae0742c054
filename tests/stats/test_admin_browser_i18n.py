"""The operators' console in a real browser, in English and in zh-Hant (the browser's locale sets
Accept-Language): log in, visit the stage, viewer session and room pages, the dashboard (and the
broadcast reports when the reports app is in the tree), collect what a person reads and check each
text of ours against the catalogs (tests/admin_texts.py). Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.admin_texts import leftovers
from tests.stats.conftest import _migrated_server_db  # noqa: F401  (fixture)
from tests.stats.servers import ROOT, daphne_servers, manage, migrated_copy
from tests.stats.test_browser import CHROMIUM, join_as_viewer

ARTIFACTS = ROOT / "test-artifacts"
USER, PASSWORD = "console-operator", "console-pw-12345"
HAS_REPORTS = (ROOT / "reports" / "admin.py").exists()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium (/usr/bin/chromium)"),
]

# What a person reads: visible text, plus titles, labels and button captions of visible elements.
COLLECT = """() => {
  const texts = document.body.innerText.split(/\\n+/);
  for (const el of document.querySelectorAll('[title], [aria-label], [placeholder], input[type=submit]')) {
    if (!el.offsetParent && el.tagName !== 'svg') continue;
    for (const name of ['title', 'aria-label', 'placeholder']) {
      if (el.getAttribute(name)) texts.push(el.getAttribute(name));
    }
    if (el.tagName === 'INPUT' && el.value) texts.push(el.value);
  }
  texts.push(document.title);
  return texts.filter(t => t.trim());
}"""


def prepare(db_file: Path) -> None:
    """The master stage, a room with an ASCII name, a superuser and, with the reports app, one
    broadcast of the default room (the host went live)."""
    reports = "from reports.broadcasts import went_live; went_live('default'); " if HAS_REPORTS else ""
    manage(
        db_file,
        "shell",
        "-c",
        "from django.core.management import call_command; "
        "from django.contrib.auth.models import User; "
        "call_command('ensure_master_stage'); "
        "call_command('create_room', 'seller-1', '--name', 'Seller One'); "
        f"User.objects.create_superuser({USER!r}, 'ops@example.com', {PASSWORD!r}); " + reports,
    )


def first_broadcast_id(db_file: Path) -> str:
    script = "from reports.models import Broadcast; print(Broadcast.objects.values_list('pk', flat=True).first())"
    return manage(db_file, "shell", "--no-imports", "-c", script).strip().splitlines()[-1]


def user_data(db_file: Path) -> list[str]:
    """Values shown as they are in every language: stage names, ARNs and ids, rooms, userIds."""
    stages = json.loads(manage(db_file, "list_stages", "--all", "--json"))["stages"]
    rooms = json.loads(manage(db_file, "list_rooms", "--json"))["rooms"]
    values = ["viewer-en", "viewer-zh", USER]
    for stage in stages:
        values += [stage["stageName"], stage["stageArn"], stage["stageArn"].rsplit("/", 1)[-1]]
    for room in rooms:
        values += [room["roomId"], room["name"]]
    return values


def visit(page, base_url: str, path: str, name: str, language: str, data: list[str], problems: dict) -> None:
    response = page.goto(base_url + path)
    assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / f"admin-{language}-{name}.png"), full_page=True)
    wrong = leftovers(page.evaluate(COLLECT), language, data)
    if wrong:
        problems[f"{language} {path}"] = wrong


@pytest.fixture(scope="module", params=[("en-US", "en"), ("zh-TW", "zh-hant")], ids=["en", "zh-hant"])
def console_visit(request, _migrated_server_db, tmp_path_factory):  # noqa: F811
    """One browser session per language over every page; (language, problems by page)."""
    locale, language = request.param
    tmp_path = tmp_path_factory.mktemp(f"console-{language}")
    server_db = migrated_copy(_migrated_server_db, tmp_path)
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    prepare(server_db)

    with daphne_servers(server_db, tmp_path, count=1) as [server], sync_api.sync_playwright() as playwright:
        for user_id in ("viewer-en", "viewer-zh"):
            assert join_as_viewer(server.base_url, user_id)["success"] is True
        data = user_data(server_db)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale=locale)
            page.goto(f"{server.base_url}/admin/login/?next=/admin/")
            page.fill("#id_username", USER)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{server.base_url}/admin/")
            assert page.locator("html").get_attribute("lang") == language

            problems: dict[str, list[str]] = {}
            pages = [
                ("/admin/", "index"),
                ("/admin/stages/stage/", "stages"),
                ("/admin/stages/stage/add/", "stage-add"),
                ("/admin/viewers/viewersession/", "sessions"),
                ("/admin/stages/room/", "rooms"),
                ("/admin/stages/room/seller-1/change/", "room"),
                ("/admin/stages/room/add/", "room-add"),
            ]
            if HAS_REPORTS:
                pages.append(("/admin/reports/broadcast/", "broadcasts"))
            for path, name in pages:
                visit(page, server.base_url, path, name, language, data, problems)

            # A session's page and, with reports, a broadcast's: reached from their lists.
            page.goto(f"{server.base_url}/admin/viewers/viewersession/")
            page.locator("#result_list tbody tr th a").first.click()
            page.wait_for_load_state("networkidle")
            visit(page, server.base_url, page.url.removeprefix(server.base_url), "session", language, data, problems)
            if HAS_REPORTS:
                # The detail page by its broadcast id, and separately whether the list's link to it
                # (the admin's quoted primary key) leads there.
                page.goto(f"{server.base_url}/admin/reports/broadcast/")
                link = page.locator("#result_list tbody tr th a").first.get_attribute("href") or ""
                linked = page.goto(server.base_url + link)
                if linked is None or not linked.ok:
                    problems[f"{language} {link}"] = [f"HTTP {linked and linked.status} from the list's link"]
                detail = f"/admin/reports/broadcast/{first_broadcast_id(server_db)}/change/"
                visit(page, server.base_url, detail, "broadcast", language, data, problems)

            # The dashboard, once its script has written its texts from the live feed.
            page.goto(f"{server.base_url}/admin/dashboard/")
            sync_api.expect(page.locator("#connection-status")).to_have_attribute("data-state", "live", timeout=15_000)
            sync_api.expect(page.locator(".room-row")).to_have_count(2, timeout=15_000)
            page.screenshot(path=str(ARTIFACTS / f"admin-{language}-dashboard.png"), full_page=True)
            wrong = leftovers(page.evaluate(COLLECT), language, data)
            if wrong:
                problems[f"{language} /admin/dashboard/"] = wrong

            # The stage changelist's button, in the page's language.
            page.goto(f"{server.base_url}/admin/stages/stage/")
            button = page.locator("#sync-with-ivs")
            sync_api.expect(button).to_have_text("Sync with IVS" if language == "en" else "與 IVS 同步")
            button.click()
            sync_api.expect(page.locator(".messagelist .success")).to_have_count(1)
            visit(page, server.base_url, "/admin/stages/stage/", "stages-synced", language, data, problems)

            return language, problems
        finally:
            browser.close()
            for log in tmp_path.glob("daphne-*.log"):
                shutil.copyfile(log, ARTIFACTS / f"admin-{language}-{log.name}")


def test_the_console_is_in_the_browsers_language(console_visit):
    _language, problems = console_visit
    console = {where: texts for where, texts in problems.items() if "/admin/reports/" not in where}

    assert not console, console


@pytest.mark.skipif(not HAS_REPORTS, reason="no reports app in this tree")
def test_the_broadcast_reports_are_in_the_browsers_language(console_visit):
    _language, problems = console_visit
    reports = {where: texts for where, texts in problems.items() if "/admin/reports/" in where}
    assert not reports, reports
