"""Viewer sessions in the admin: a date drill-down on joined_at and a CSV export of exactly what the
changelist lists (its filters, search and date), streamed, with formula-looking cells made text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from stages.rooms import room_create
from stages.selectors import master_stage as master_of
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/viewers/viewersession/"
EXPORT = "/admin/viewers/viewersession/export.csv"
HEADER = ["userId", "stageArn", "roomId", "joinedAt", "leftAt", "watchSeconds", "leaveReason"]
JUNE = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 3, 8, 30, tzinfo=UTC)


def session(user_id: str, stage, joined: datetime, *, watched: float | None = None, reason: str = "left"):
    left = None if watched is None else joined + timedelta(seconds=watched)
    return ViewerSession.objects.create(
        user_id=user_id,
        stage=stage,
        joined_at=joined,
        last_heartbeat=left or joined,
        left_at=left,
        leave_reason=reason if left else "",
        watched_seconds=watched or 0,
    )


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming, "the export is streamed, not built in memory"
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="viewer-sessions-')
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def sessions(master_stage):
    room_create(room_id="seller-1")
    seller = master_of("seller-1")
    session("alice", master_stage, JUNE, watched=90)
    session("bob", seller, OCTOBER, watched=3725, reason="timeout")
    session("carol", seller, OCTOBER)  # still watching
    return master_stage, seller


def test_export_has_the_columns_and_every_row(staff_client, sessions):
    master, seller = sessions

    rows = rows_of(staff_client.get(EXPORT))

    assert rows[0] == HEADER
    by_user = {row[0]: row for row in rows[1:]}
    assert set(by_user) == {"alice", "bob", "carol"}
    assert by_user["alice"] == [
        "alice",
        master.arn,
        "default",
        "2026-06-10T12:00:00.000Z",
        "2026-06-10T12:01:30.000Z",
        "90",
        "left",
    ]
    assert by_user["bob"][1:] == [
        seller.arn,
        "seller-1",
        "2026-10-03T08:30:00.000Z",
        "2026-10-03T09:32:05.000Z",
        "3725",
        "timeout",
    ]
    assert by_user["carol"][4] == "" and int(by_user["carol"][5]) > 0 and by_user["carol"][6] == ""


def test_export_keeps_the_changelists_filters_search_and_date(staff_client, sessions):
    assert {r[0] for r in rows_of(staff_client.get(EXPORT, {"room": "seller-1"}))[1:]} == {"bob", "carol"}
    assert [r[0] for r in rows_of(staff_client.get(EXPORT, {"state": "ended"}))[1:]] == ["bob", "alice"]
    assert [r[0] for r in rows_of(staff_client.get(EXPORT, {"q": "car"}))[1:]] == ["carol"]
    june = rows_of(staff_client.get(EXPORT, {"joined_at__year": "2026", "joined_at__month": "6"}))
    assert [r[0] for r in june[1:]] == ["alice"]
    both = rows_of(staff_client.get(EXPORT, {"state": "ended", "room": "seller-1", "leave_reason": "timeout"}))
    assert [r[0] for r in both[1:]] == ["bob"]


def test_the_export_link_on_the_changelist_carries_its_current_filters(staff_client, sessions):
    page = staff_client.get(CHANGELIST, {"state": "ended", "room": "seller-1", "q": "b"}).content.decode()

    start = page.index('id="export-csv"')
    href = page[page.rindex("<a ", 0, start) :].split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    url = urlsplit(href)
    assert url.path == EXPORT
    assert parse_qs(url.query) == {"state": ["ended"], "room": ["seller-1"], "q": ["b"]}
    assert [r[0] for r in rows_of(staff_client.get(href))[1:]] == ["bob"]


def test_the_changelist_drills_down_by_date(staff_client, sessions):
    page = staff_client.get(CHANGELIST, {"joined_at__year": "2026", "joined_at__month": "10"}).content.decode()

    assert '<nav class="toplinks">' in page
    assert "joined_at__day=3" in page.replace("&amp;", "&")  # October's day with sessions, offered
    assert "bob" in page and "carol" in page and "alice" not in page


@pytest.mark.parametrize("dangerous", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_formula_looking_user_ids_are_written_as_text(staff_client, master_stage, dangerous):
    session(dangerous, master_stage, JUNE, watched=1)
    session("plain-1", master_stage, JUNE, watched=1)

    cells = {row[0] for row in rows_of(staff_client.get(EXPORT))[1:]}

    assert cells == {"'" + dangerous, "plain-1"}


def test_a_long_history_streams_every_row(staff_client, master_stage):
    ViewerSession.objects.bulk_create(
        ViewerSession(
            user_id=f"u{n}", stage=master_stage, joined_at=JUNE, last_heartbeat=JUNE, left_at=JUNE, watched_seconds=n
        )
        for n in range(5000)
    )

    response = staff_client.get(EXPORT)
    rows = rows_of(response)

    assert len(rows) == 5001 and sum(int(r[5]) for r in rows[1:]) == sum(range(5000))


def test_export_needs_the_view_permission(master_stage):
    session("alice", master_stage, JUNE, watched=1)
    user = get_user_model().objects.create_user("nobody", password="pw-for-tests", is_staff=True)
    client = Client()
    client.force_login(user)

    assert client.get(EXPORT).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_viewersession"))
    assert [r[0] for r in rows_of(client.get(EXPORT))[1:]] == ["alice"]


def test_an_unknown_filter_is_a_400_not_a_500(staff_client, master_stage):
    assert staff_client.get(EXPORT, {"no_such_field__gt": "1"}).status_code == 400


def test_watch_time_in_the_admin_follows_the_operators_language(staff_client, master_stage):
    session("dora", master_stage, JUNE, watched=3723)

    english = staff_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = staff_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()

    assert '<td class="field-watch_time">1h 2m 3s</td>' in english
    assert '<td class="field-watch_time">1小時 2分 3秒</td>' in chinese
