"""The operators' dashboard in a real browser: Playwright driving the system Chromium against daphne
(pytest-django's live_server is WSGI-only and cannot serve /ws)."""

import contextlib
import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.stats.servers import ROOT, daphne_servers, manage

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
STAFF_USER, STAFF_PASSWORD = "operator", "operator-pw-12345"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium (/usr/bin/chromium)"),
]


def prepare_server_db(db_file: Path) -> None:
    """Master stage in the emulator (Redis is flushed per test) and a staff user, in one process."""
    manage(
        db_file,
        "shell",
        "-c",
        "from django.core.management import call_command; "
        "from django.contrib.auth.models import Permission, User; "
        "call_command('ensure_master_stage'); "
        f"u = User.objects.create_user({STAFF_USER!r}, password={STAFF_PASSWORD!r}, is_staff=True); "
        "u.user_permissions.add(Permission.objects.get(codename='view_room'))",
    )


def push_from_the_server_side(db_file: Path) -> None:
    """What the ticker does every interval, run against the server's database and Redis."""
    manage(db_file, "shell", "-c", "from stats.tasks import push_stats_now; push_stats_now(reason='browser-test')")


def join_as_viewer(base_url: str, user_id: str, room_id: str | None = None) -> dict:
    body = {"userId": user_id, **({"roomId": room_id} if room_id else {})}
    request = urllib.request.Request(
        f"{base_url}/api/token/viewer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-api-key": "dev-api-key"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def dashboard_page(server_db: Path, tmp_path: Path):
    """A staff member on the dashboard (reached from the admin index) of a daphne serving server_db;
    yields (page, expect, server, problems): page errors and failed requests end up in problems."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)

    with daphne_servers(server_db, tmp_path, count=1) as [server], sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-TW")
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on(
                "response",
                lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico") and problems.append(r.url),
            )

            page.goto(f"{server.base_url}/admin/login/?next=/admin/")
            page.fill("#id_username", STAFF_USER)
            page.fill("#id_password", STAFF_PASSWORD)
            page.click("input[type=submit]")
            page.click("#live-dashboard-module a >> nth=1")  # the link on the admin index
            page.wait_for_url(f"{server.base_url}/admin/dashboard/")
            yield page, sync_api.expect, server, problems
        finally:
            browser.close()
            for log in tmp_path.glob("daphne-*.log"):
                shutil.copyfile(log, ARTIFACTS / f"browser-{log.name}")


def test_dashboard_updates_live_when_a_viewer_joins(server_db, tmp_path):
    prepare_server_db(server_db)

    with dashboard_page(server_db, tmp_path) as (page, expect, server, problems):
        expect(page.locator("#connection-status")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("#total-viewers")).to_have_text("0")
        expect(page.locator("#host-status")).to_have_text("未開播")
        expect(page.locator(".stage-row")).to_have_count(1)
        page.evaluate("window.__notReloaded = true")

        body = join_as_viewer(server.base_url, "browser-viewer-1")
        assert body["success"] is True, body
        push_from_the_server_side(server_db)

        expect(page.locator("#total-viewers")).to_have_text("1", timeout=15_000)
        expect(page.locator(".stage-row .stage-count")).to_have_text("1 / 50")
        assert page.evaluate("window.__notReloaded") is True
        assert int(page.locator("#viewers-chart").get_attribute("data-points") or 0) >= 1
        assert problems == []
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_dashboard_follows_the_chosen_room_beside_every_rooms_overview(server_db, tmp_path):
    prepare_server_db(server_db)
    manage(server_db, "create_room", "r1", "--name", "一號直播間")

    with dashboard_page(server_db, tmp_path) as (page, expect, server, problems):
        expect(page.locator("#connection-status")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator(".room-row")).to_have_count(2)
        expect(page.locator("#rooms-summary")).to_have_text("共 2 間，0 間直播中，0 位觀眾")
        expect(page.locator('.room-row[aria-current="true"]')).to_have_attribute("data-room-id", "default")

        page.select_option("#room-select", "r1")  # loads the page for r1
        page.wait_for_url(f"{server.base_url}/admin/dashboard/?room=r1")
        expect(page.locator("#connection-status")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("#room-select")).to_have_value("r1")
        expect(page.locator('.room-row[aria-current="true"]')).to_have_attribute("data-room-id", "r1")
        expect(page.locator("#total-viewers")).to_have_text("0")
        expect(page.locator(".stage-row")).to_have_count(1)
        expect(page.locator(".stage-row .stage-name")).to_contain_text("r1")

        for user_id in ("room-viewer-1", "room-viewer-2"):
            body = join_as_viewer(server.base_url, user_id, room_id="r1")
            assert body["success"] is True, body
        push_from_the_server_side(server_db)

        expect(page.locator("#total-viewers")).to_have_text("2", timeout=15_000)
        expect(page.locator('.room-row[data-room-id="r1"] .room-viewers')).to_have_text("2")
        expect(page.locator('.room-row[data-room-id="default"] .room-viewers')).to_have_text("0")
        expect(page.locator("#rooms-summary")).to_have_text("共 2 間，0 間直播中，2 位觀眾")
        expect(page.locator("#room-notice")).to_be_hidden()
        assert problems == []
        page.screenshot(path=str(ARTIFACTS / "dashboard-rooms.png"), full_page=True)

        # The rooms in the admin (the operator may view them), with their viewers read live.
        page.goto(f"{server.base_url}/admin/stages/room/")
        row = page.locator("#result_list tbody tr", has_text="r1")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("一號直播間")
        expect(page.locator("#result_list tbody tr", has_text="default")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "admin-rooms.png"), full_page=True)
