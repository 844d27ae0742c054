"""REPORTS.md through the public surface: the events endpoint switches the host, viewers join and
leave over HTTP, the beat's task functions sample and push, and the report endpoints answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reports import tasks as report_tasks
from stats import tasks as stats_tasks

pytestmark = pytest.mark.django_db


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def clock_iso(clock) -> str:
    return datetime.fromtimestamp(clock.t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def join(api, user, room_id="default"):
    body = {"userId": user} if room_id == "default" else {"userId": user, "roomId": room_id}
    response = api.post("/api/token/viewer", body)
    assert response.status_code == 200, response.content
    return response.json()["data"]["stageArn"]


def leave(api, user, stage_arn):
    response = api.post("/api/viewer/leave", {"userId": user, "stageArn": stage_arn})
    assert response.status_code == 200, response.content


def broadcasts(api, **query):
    response = api.get("/api/reports/broadcasts", query)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def detail(api, broadcast_id):
    response = api.get(f"/api/reports/broadcasts/{broadcast_id}")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_a_live_show_has_a_broadcast_with_no_end_and_its_duration_so_far(api, host, clock):
    start = clock_iso(clock)
    host(True)
    clock.advance(125)

    [summary] = broadcasts(api)["broadcasts"]

    assert summary["roomId"] == "default"
    assert summary["startedAt"] == start
    assert summary["endedAt"] is None
    assert summary["durationSeconds"] == 125
    assert set(summary) == {
        "broadcastId", "roomId", "startedAt", "endedAt", "durationSeconds", "peakViewers", "peakAt",
        "uniqueViewers", "totalWatchSeconds", "averageWatchSeconds",
    }  # fmt: skip
    assert detail(api, summary["broadcastId"])["broadcast"] == summary


def test_the_summary_counts_the_sessions_inside_the_window(api, host, clock):
    """a joins before the show and stays 100 s into it; b watches 60 s, leaves, comes back for 30 s
    (one unique viewer, 90 s); c joins after the show ended (not counted)."""
    a = join(api, "a")
    clock.advance(50)  # a's first 50 s are before the show: outside the window
    host(True)
    start = clock.t
    b = join(api, "b")
    clock.advance(60)
    leave(api, "b", b)
    clock.advance(40)
    leave(api, "a", a)  # a: 100 s inside
    b = join(api, "b")
    clock.advance(30)
    leave(api, "b", b)  # b: 60 + 30 s
    clock.advance(10)
    host(False)
    end = clock.t
    clock.advance(5)
    join(api, "c")
    clock.advance(20)

    [summary] = broadcasts(api)["broadcasts"]

    assert epoch(summary["endedAt"]) == end
    assert summary["durationSeconds"] == int(end - start) == 140
    assert summary["uniqueViewers"] == 2
    assert summary["totalWatchSeconds"] == 100 + 90
    assert summary["averageWatchSeconds"] == 95


def test_an_open_session_counts_to_now_while_live_and_to_the_end_after(api, host, clock):
    host(True)
    join(api, "v")
    clock.advance(30)
    live = broadcasts(api)["broadcasts"][0]
    assert (live["totalWatchSeconds"], live["uniqueViewers"], live["averageWatchSeconds"]) == (30, 1, 30)

    clock.advance(30)
    host(False)
    clock.advance(300)  # the viewer is still watching: the show's window stops at its end

    ended = broadcasts(api)["broadcasts"][0]
    assert (ended["totalWatchSeconds"], ended["durationSeconds"]) == (60, 60)


def test_a_blip_shorter_than_the_merge_window_is_the_same_broadcast(api, host, clock, settings):
    settings.BROADCAST_MERGE_SECONDS = 120
    host(True)
    clock.advance(600)
    host(False)
    first = broadcasts(api)["broadcasts"]
    assert len(first) == 1 and first[0]["endedAt"] is not None  # ended, for now

    clock.advance(119)  # one second short of the window
    host(True)
    clock.advance(600)

    [merged] = broadcasts(api)["broadcasts"]
    assert merged["broadcastId"] == first[0]["broadcastId"]
    assert merged["endedAt"] is None
    assert merged["durationSeconds"] == 600 + 119 + 600


@pytest.mark.parametrize("off_for", [120, 121])
def test_back_after_the_merge_window_is_a_new_broadcast(api, host, clock, settings, off_for):
    """Off for less than the window continues the show; off for the whole window (or more) does not."""
    settings.BROADCAST_MERGE_SECONDS = 120
    host(True)
    clock.advance(60)
    host(False)
    clock.advance(off_for)
    host(True)

    newest, older = broadcasts(api)["broadcasts"]
    assert newest["endedAt"] is None and older["endedAt"] is not None
    assert newest["broadcastId"] != older["broadcastId"]
    assert older["durationSeconds"] == 60
    assert epoch(newest["startedAt"]) - epoch(older["endedAt"]) == off_for


def test_samples_make_the_series_one_point_per_sample_oldest_first(api, host, clock, settings):
    settings.REPORT_SAMPLE_SECONDS = 60
    clock.t = 1_800_000_000.0  # on a minute: the samples' slots are the sampling times
    host(True)
    counts = []
    for n in range(3):
        for user in range(n + 1):
            join(api, f"u{n}-{user}")
        counts.append(sum(range(2, n + 3)) - n)  # viewers so far: 1, 3, 6
        report_tasks.sample_broadcasts()
        report_tasks.sample_broadcasts()  # a second beat in the same slot adds nothing
        clock.advance(60)

    data = detail(api, broadcasts(api)["broadcasts"][0]["broadcastId"])

    assert [p["viewers"] for p in data["series"]] == [1, 3, 6]
    assert [epoch(p["t"]) for p in data["series"]] == [1_800_000_000.0 + 60 * n for n in range(3)]
    assert data["broadcast"]["peakViewers"] == 6
    assert epoch(data["broadcast"]["peakAt"]) == 1_800_000_120.0


def test_the_peak_is_the_highest_count_at_any_push_not_only_at_samples(api, host, clock):
    host(True)
    report_tasks.sample_broadcasts()
    arns = [join(api, f"v{n}") for n in range(7)]
    clock.advance(5)
    peak_time = clock_iso(clock)
    stats_tasks.push_stats_now("tick")  # 7 viewers seen by a push between two samples
    for n, arn in enumerate(arns[:5]):
        leave(api, f"v{n}", arn)
    clock.advance(55)
    report_tasks.sample_broadcasts()
    stats_tasks.push_stats_now("tick")  # 2 now: the peak stays

    data = detail(api, broadcasts(api)["broadcasts"][0]["broadcastId"])

    assert [p["viewers"] for p in data["series"]] == [0, 2]
    assert data["broadcast"]["peakViewers"] == 7
    assert data["broadcast"]["peakAt"] == peak_time


def test_a_push_that_read_the_counts_before_the_broadcast_opened_is_never_before_its_start(api, host, clock):
    """The flag is written before the broadcast is opened: a push that read the counts in between
    reports a time a moment before the broadcast's start; the peak is then at the start."""
    from stats.broadcast import stats_broadcast
    from stats.signals import stats_pushed

    host(True)
    join(api, "v")
    stats_pushed.send(sender=stats_broadcast, totals={"default": 1}, at=clock.t - 0.02)

    [summary] = broadcasts(api)["broadcasts"]
    assert summary["peakViewers"] == 1
    assert summary["peakAt"] == summary["startedAt"]


def test_sampling_repairs_a_lost_live_signal_and_a_lost_offline_one(api, master_stage, clock):
    """The host-live flag changed in Redis without any receiver hearing of it (a process died
    between the two): the next sample opens the broadcast, and ends it once the flag is off."""
    from ivsproject.redis import get_redis
    from stages import hostlive

    get_redis().set(hostlive.live_key("default"), "1")
    report_tasks.sample_broadcasts()
    [opened] = broadcasts(api)["broadcasts"]
    assert opened["endedAt"] is None and epoch(opened["startedAt"]) == clock.t

    clock.advance(60)
    report_tasks.sample_broadcasts()  # still live: seen live at this sample
    last_seen = clock.t
    get_redis().set(hostlive.live_key("default"), "0")
    clock.advance(60)
    result = report_tasks.sample_broadcasts()

    [ended] = broadcasts(api)["broadcasts"]
    assert result["ended"] == 1
    assert epoch(ended["endedAt"]) == last_seen  # the last moment it was seen live


def test_rooms_have_their_own_broadcasts(api, host, room, clock):
    room("r1")
    host(True, "r1")
    clock.advance(10)
    host(True)
    join(api, "x", "r1")
    clock.advance(10)

    everything = broadcasts(api)["broadcasts"]
    only_r1 = broadcasts(api, roomId="r1")["broadcasts"]

    assert [b["roomId"] for b in everything] == ["default", "r1"]  # newest first
    assert [b["roomId"] for b in only_r1] == ["r1"]
    assert only_r1[0]["uniqueViewers"] == 1
    assert everything[0]["uniqueViewers"] == 0


def test_pages_newest_first_with_next_token(api, host, clock, settings):
    settings.BROADCAST_MERGE_SECONDS = 0
    for _ in range(5):
        host(True)
        clock.advance(10)
        host(False)
        clock.advance(10)
    all_ids = [b["broadcastId"] for b in broadcasts(api, limit=100)["broadcasts"]]
    starts = [epoch(b["startedAt"]) for b in broadcasts(api, limit=100)["broadcasts"]]
    assert len(all_ids) == 5 and starts == sorted(starts, reverse=True)

    seen, token = [], None
    while True:
        page = broadcasts(api, limit=2, **({"nextToken": token} if token else {}))
        seen += [b["broadcastId"] for b in page["broadcasts"]]
        token = page["nextToken"]
        if token is None:
            break
    assert seen == all_ids


def error(response):
    body = response.json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


def test_errors(api, master_stage):
    assert error(api.get("/api/reports/broadcasts/bc_0123456789abcdef")) == (404, "NOT_FOUND", "直播場次不存在")
    assert error(api.get("/api/reports/broadcasts/" + "x" * 300))[:2] == (404, "NOT_FOUND")
    assert error(api.get("/api/reports/broadcasts/bc_%000123456789abcde"))[:2] == (404, "NOT_FOUND")
    assert error(api.get("/api/reports/broadcasts/BC_0123456789ABCDEF"))[:2] == (404, "NOT_FOUND")
    assert error(api.get("/api/reports/broadcasts/bc_\u0661123456789abcdef"))[:2] == (404, "NOT_FOUND")
    assert error(api.get("/api/reports/broadcasts", {"roomId": "nope"})) == (404, "NOT_FOUND", "直播間不存在")
    assert error(api.get("/api/reports/broadcasts", {"roomId": "Bad Room!"}))[:2] == (400, "VALIDATION_ERROR")
    assert error(api.get("/api/reports/broadcasts", {"limit": "0"}))[:2] == (400, "VALIDATION_ERROR")
    assert error(api.get("/api/reports/broadcasts", {"nextToken": "forged"}))[:2] == (400, "VALIDATION_ERROR")


def test_the_not_found_message_follows_the_language_and_the_code_does_not(api, master_stage):
    missing = "/api/reports/broadcasts/bc_0123456789abcdef"
    english = api.get(missing, HTTP_ACCEPT_LANGUAGE="en")
    assert error(english) == (404, "NOT_FOUND", "Broadcast not found")
    assert error(api.get(missing, HTTP_ACCEPT_LANGUAGE="zh-TW")) == (404, "NOT_FOUND", "直播場次不存在")


def test_a_deleted_rooms_broadcasts_stay_readable(api, host, room, clock):
    room("gone")
    host(True, "gone")
    clock.advance(30)
    host(False, "gone")
    assert api.delete("/api/rooms/gone").status_code == 200

    [summary] = broadcasts(api, roomId="gone")["broadcasts"]
    assert summary["durationSeconds"] == 30


def test_reports_need_the_api_key(client, master_stage):
    response = client.get("/api/reports/broadcasts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_sample_is_dated_when_it_was_counted_never_before_the_show(api, host, clock, settings):
    settings.REPORT_SAMPLE_SECONDS = 60
    clock.t = 1_800_000_045.0  # the show starts 45 s into a minute
    host(True)
    join(api, "early")
    clock.advance(5)
    report_tasks.sample_broadcasts()

    data = detail(api, broadcasts(api)["broadcasts"][0]["broadcastId"])

    [point] = data["series"]
    assert epoch(point["t"]) == 1_800_000_050.0 >= epoch(data["broadcast"]["startedAt"])
    assert point["t"] == data["broadcast"]["peakAt"]  # the peak and its point, on one clock


def test_a_beat_near_an_interval_boundary_neither_drops_nor_doubles_a_sample(api, host, clock, settings):
    settings.REPORT_SAMPLE_SECONDS = 60
    clock.t = 1_800_000_000.0
    host(True)
    times = []
    # Beat's runs land a few ms either side of each minute; a retried task comes 5 s after one.
    for at, retried in ((0.05, False), (59.98, True), (120.04, False), (179.97, False)):
        clock.t = 1_800_000_000.0 + at
        report_tasks.sample_broadcasts()
        times.append(clock.t)
        if retried:
            clock.advance(5)
            report_tasks.sample_broadcasts()

    data = detail(api, broadcasts(api)["broadcasts"][0]["broadcastId"])

    assert [epoch(p["t"]) for p in data["series"]] == pytest.approx(times, abs=0.001)


def test_a_pass_that_saw_the_host_live_just_before_the_end_does_not_reopen_the_show(api, host, clock):
    from reports import broadcasts as reports_broadcasts

    host(True)
    clock.advance(60)
    host(False)
    [ended] = broadcasts(api)["broadcasts"]

    # A sampling pass that read the flags half a second before the host went off.
    reports_broadcasts.went_live("default", at=datetime.fromtimestamp(clock.t - 0.5, tz=UTC))

    assert broadcasts(api)["broadcasts"] == [ended]


def test_a_show_reopened_after_its_figures_were_kept_counts_its_new_viewers(api, host, clock):
    host(True)
    arn = join(api, "first")
    clock.advance(60)
    leave(api, "first", arn)
    host(False)
    off_at = clock.t
    clock.advance(130)  # past the merge window: the figures are final and kept on the row
    [kept] = broadcasts(api)["broadcasts"]
    assert kept["uniqueViewers"] == 1

    # The host is back 100 s after going off, as the clock of the process that saw it reads.
    clock.t = off_at + 100
    host(True)
    join(api, "second")
    clock.advance(30)

    [reopened] = broadcasts(api)["broadcasts"]
    assert reopened["broadcastId"] == kept["broadcastId"] and reopened["endedAt"] is None
    assert reopened["uniqueViewers"] == 2
