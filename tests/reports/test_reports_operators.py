"""Operators' side of the reports: the admin list and detail page (summary, chart, CSV export of
the broadcast's sessions), `manage.py broadcast_report` in its three formats, and retention."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reports import tasks as report_tasks
from reports.models import Broadcast, BroadcastSample
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db


def join(api, user):
    response = api.post("/api/token/viewer", {"userId": user})
    assert response.status_code == 200, response.content
    return response.json()["data"]["stageArn"]


@pytest.fixture
def show(api, host, clock, settings):
    """A finished show: 3 samples (2, 3, 1 viewers), '=cmd' a viewer whose id looks like a formula."""
    settings.REPORT_SAMPLE_SECONDS = 60
    clock.t = 1_800_000_000.0
    host(True)
    arns = {user: join(api, user) for user in ("alice", "=cmd")}
    report_tasks.sample_broadcasts()
    clock.advance(60)
    arns["bob"] = join(api, "bob")
    report_tasks.sample_broadcasts()
    clock.advance(60)
    for user in ("alice", "=cmd"):
        assert api.post("/api/viewer/leave", {"userId": user, "stageArn": arns[user]}).status_code == 200
    report_tasks.sample_broadcasts()
    clock.advance(30)
    host(False)
    return api.get("/api/reports/broadcasts").json()["data"]["broadcasts"][0]


def test_admin_lists_broadcasts_and_filters_them(staff_client, show, host, clock):
    clock.advance(3600)
    host(True)  # a second, live show

    page = staff_client.get("/admin/reports/broadcast/")
    live = staff_client.get("/admin/reports/broadcast/", {"state": "live"})
    ended = staff_client.get("/admin/reports/broadcast/", {"state": "ended"})

    assert page.status_code == 200
    assert show["broadcastId"] in page.content.decode()
    assert live.context["cl"].result_count == 1 and ended.context["cl"].result_count == 1
    assert show["broadcastId"] in ended.content.decode() and show["broadcastId"] not in live.content.decode()
    assert staff_client.get("/admin/reports/broadcast/add/").status_code == 403


def test_admin_detail_shows_the_summary_and_one_chart_point_per_sample(staff_client, show):
    response = staff_client.get(f"/admin/reports/broadcast/{show['broadcastId']}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="peak-viewers">3<' in html
    assert 'id="unique-viewers">3<' in html
    assert f'data-seconds="{show["totalWatchSeconds"]}"' in html
    assert 'data-points="3"' in html
    points = response.context["chart"].points.split()
    assert len(points) == 3
    # The highest sample (3 viewers) is the highest point: the smallest y on the SVG.
    ys = [float(p.split(",")[1]) for p in points]
    assert ys.index(min(ys)) == 1


@pytest.fixture(
    # After "bc_", two digits that are also the admin's quoting of "$", '"', "&" and "@", then others.
    params=["245bf08a998a725a", "2200000000000000", "26ffffffffffffff", "40a0a0a0a0a0a0a0", "5f5f5f5f5f5f5f5f"]
)
def next_broadcast_id(request, monkeypatch):
    """Record ids are random; this makes the next one an id the admin's unquoting would misread."""
    monkeypatch.setattr("reports.models.secrets", SimpleNamespace(token_hex=lambda nbytes: request.param))
    return "bc_" + request.param


def test_admin_detail_opens_by_the_api_id_and_by_the_admin_link(staff_client, next_broadcast_id, show):
    assert show["broadcastId"] == next_broadcast_id
    listed = staff_client.get("/admin/reports/broadcast/").content.decode()
    admin_link = next(href for href in re.findall(r'href="([^"]+/change/)"', listed) if "/reports/broadcast/" in href)

    for url in (f"/admin/reports/broadcast/{next_broadcast_id}/change/", admin_link):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert response.context["broadcast"].broadcast_id == next_broadcast_id
    assert staff_client.get(f"/admin/reports/broadcast/{next_broadcast_id}/sessions.csv").status_code == 200
    assert staff_client.get(f"/admin/reports/broadcast/{next_broadcast_id}/history/").status_code == 200


def test_admin_unknown_broadcast_is_404_not_500(staff_client, master_stage):
    assert staff_client.get("/admin/reports/broadcast/bc_nope/change/").status_code == 404
    assert staff_client.get("/admin/reports/broadcast/bc_nope/sessions.csv").status_code == 404
    assert staff_client.get("/admin/reports/broadcast/bc_%00/change/").status_code == 404


def test_admin_pages_need_staff(client, show):
    response = client.get(f"/admin/reports/broadcast/{show['broadcastId']}/sessions.csv")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_csv_export_of_the_broadcasts_sessions_adds_up_to_the_summary(staff_client, show):
    response = staff_client.get(f"/admin/reports/broadcast/{show['broadcastId']}/sessions.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    content = b"".join(response.streaming_content)
    assert content.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["userId", "stageArn", "joinedAt", "leftAt", "watchSeconds", "leaveReason"]
    assert sorted(r["userId"] for r in rows) == ["'=cmd", "alice", "bob"]  # a formula never reaches a sheet
    assert int(sum(float(r["watchSeconds"]) for r in rows)) == show["totalWatchSeconds"] == 120 + 120 + 90
    assert {r["userId"]: r["leaveReason"] for r in rows} == {"alice": "left", "'=cmd": "left", "bob": ""}


def test_broadcast_report_json_is_the_api_document(api, show, capsys):
    call_command("broadcast_report", show["broadcastId"], "--format", "json")
    from_command = json.loads(capsys.readouterr().out)

    assert from_command == api.get(f"/api/reports/broadcasts/{show['broadcastId']}").json()["data"]
    call_command("broadcast_report", "--room", "default", "--last", "--json")
    assert json.loads(capsys.readouterr().out)["broadcast"]["broadcastId"] == show["broadcastId"]


def test_broadcast_report_table_and_csv(api, show, capsys):
    series = api.get(f"/api/reports/broadcasts/{show['broadcastId']}").json()["data"]["series"]
    call_command("broadcast_report", show["broadcastId"])
    table = capsys.readouterr().out
    assert "peakViewers" in table and "3 sample(s)" in table

    call_command("broadcast_report", show["broadcastId"], "--format", "csv")
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["t", "viewers"], *([p["t"], str(p["viewers"])] for p in series)]
    assert [r[1] for r in rows[1:]] == ["2", "3", "1"]


def test_broadcast_report_errors_are_clear(master_stage, room):
    with pytest.raises(CommandError, match="直播場次不存在"):
        call_command("broadcast_report", "bc_0000000000000000")
    with pytest.raises(CommandError, match="give a broadcastId"):
        call_command("broadcast_report")
    room("quiet")
    with pytest.raises(CommandError, match="has no broadcast"):
        call_command("broadcast_report", "--room", "quiet", "--last")


def test_retention_purges_old_sessions_samples_and_broadcasts_in_batches(api, show, clock, settings, capsys):
    settings.REPORT_RETENTION_DAYS = 30
    clock.advance(10)
    recent = api.get("/api/reports/broadcasts").json()["data"]["broadcasts"]
    still_open = ViewerSession.objects.filter(left_at__isnull=True).count()
    assert still_open == 1  # bob never left

    clock.advance(29 * 86400)  # 29 days on: nothing is old enough yet
    assert report_tasks.purge_reports()["sessions"] == 0
    assert Broadcast.objects.count() == 1

    clock.advance(2 * 86400)  # 31 days after the show
    call_command("purge_reports", "--batch", "1", "--json")
    out = capsys.readouterr()
    result = json.loads(out.out)

    assert (result["sessions"], result["samples"], result["broadcasts"]) == (2, 3, 1)
    assert "sessions: 1 deleted so far" in out.err and "sessions: 2 deleted so far" in out.err  # one per batch
    assert not Broadcast.objects.exists() and not BroadcastSample.objects.exists()
    assert ViewerSession.objects.filter(left_at__isnull=True).count() == 1  # an open session is never purged
    assert api.get(f"/api/reports/broadcasts/{recent[0]['broadcastId']}").status_code == 404


def test_retention_keeps_a_live_broadcast_however_old(api, host, clock, settings):
    settings.REPORT_RETENTION_DAYS = 1
    host(True)
    started = datetime.fromtimestamp(clock.t, tz=UTC)
    clock.advance(3 * 86400)

    result = report_tasks.purge_reports()

    assert result["broadcasts"] == 0
    [live] = Broadcast.objects.all()
    assert live.ended_at is None and live.started_at == started
    assert timedelta(days=3) <= datetime.fromtimestamp(clock.t, tz=UTC) - live.started_at


def test_retention_keeps_the_sessions_of_a_show_it_keeps_until_its_figures_are_final(api, host, clock, settings):
    settings.REPORT_RETENTION_DAYS = 1
    host(True)
    arn = join(api, "early")
    clock.advance(60)
    assert api.post("/api/viewer/leave", {"userId": "early", "stageArn": arn}).status_code == 200
    clock.advance(2 * 86400)  # a 24/7 room: still live two days on, the session older than the cut-off

    assert report_tasks.purge_reports()["sessions"] == 0
    [live] = api.get("/api/reports/broadcasts").json()["data"]["broadcasts"]
    assert (live["uniqueViewers"], live["totalWatchSeconds"]) == (1, 60)

    host(False)
    clock.advance(180)  # past the merge window: the figures can no longer change
    assert report_tasks.purge_reports()["sessions"] == 1
    [ended] = api.get("/api/reports/broadcasts").json()["data"]["broadcasts"]
    assert (ended["uniqueViewers"], ended["totalWatchSeconds"]) == (1, 60)
    assert not ViewerSession.objects.exists()


@pytest.mark.parametrize("days", ["1000000", str(10**12)])
def test_a_retention_longer_than_the_calendar_purges_nothing(show, days, capsys):
    call_command("purge_reports", "--days", days, "--json")

    result = json.loads(capsys.readouterr().out)
    assert (result["sessions"], result["samples"], result["broadcasts"]) == (0, 0, 0)
    assert Broadcast.objects.count() == 1


def test_retention_purges_old_samples_of_a_show_it_keeps_and_keeps_its_summary(api, host, clock, settings):
    """A 24/7 room: its series loses the points older than the cut-off (else it grows a point a
    minute for ever), while the summary, the peak included, stays what it was."""
    settings.REPORT_RETENTION_DAYS = 1
    host(True)
    arn = join(api, "early")
    report_tasks.sample_broadcasts()  # the peak (1 viewer), two days before the purge
    clock.advance(60)
    assert api.post("/api/viewer/leave", {"userId": "early", "stageArn": arn}).status_code == 200
    clock.advance(2 * 86400)
    report_tasks.sample_broadcasts()  # a recent point, inside the retention
    [before] = api.get("/api/reports/broadcasts").json()["data"]["broadcasts"]
    assert len(api.get(f"/api/reports/broadcasts/{before['broadcastId']}").json()["data"]["series"]) == 2

    result = report_tasks.purge_reports()

    assert (result["samples"], result["broadcasts"]) == (1, 0)
    detail = api.get(f"/api/reports/broadcasts/{before['broadcastId']}").json()["data"]
    assert [point["viewers"] for point in detail["series"]] == [0]
    assert detail["broadcast"] == {**before, "durationSeconds": detail["broadcast"]["durationSeconds"]}
    assert (detail["broadcast"]["peakViewers"], detail["broadcast"]["peakAt"]) == (1, before["peakAt"])
