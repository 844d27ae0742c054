"""Group commit of viewer joins on PostgreSQL (viewers.sessions, on ivsproject.groupcommit): joins
that arrive while another join's INSERT is in flight share the next statement and commit — and each
is answered only after that commit, with its own outcome."""

import threading
import time

import psycopg
import pytest
from django.db import connection, connections
from django.test import Client
from prometheus_client import REGISTRY

from tests.conftest import ApiClient
from viewers import sessions
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("group commit is PostgreSQL's (SQLite writes one join at a time)")


def _inserts(kind):
    return REGISTRY.get_sample_value("ivs_session_inserts_total", {"kind": kind}) or 0.0


class TableLock:
    """Holds a lock on the session table from another connection, so the first INSERT waits there
    while the next joins queue up behind it."""

    def __enter__(self):
        self.other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
        self.other.execute("BEGIN")
        self.other.execute(f"LOCK TABLE {ViewerSession._meta.db_table} IN SHARE MODE")
        return self

    def waiting(self):
        """How many connections wait for a lock (pg_stat_activity, read afresh)."""
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as watcher:
            waiting = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return watcher.execute(waiting).fetchone()[0]

    def release(self):
        self.other.execute("COMMIT")
        self.other.close()

    def __exit__(self, *exc):
        if not self.other.closed:
            self.release()


def _in_threads(lock, count, work):
    """Runs work(i) in `count` threads, each on its own database connection: the first alone until
    its INSERT waits on the lock, then the others until all of them wait behind it. Returns the
    threads and their results (or exceptions), in order."""
    results = [None] * count

    def run(i):
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    threads[0].start()
    _wait(lambda: lock.waiting() == 1)
    for thread in threads[1:]:
        thread.start()
    _wait(lambda: sessions._JOINS.pending == count - 1)
    return threads, results


def _wait(condition):
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the joins never queued"
        time.sleep(0.01)


def _joined(threads):
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def test_concurrent_viewer_tokens_share_one_insert_and_each_gets_its_own_session(api, master_stage):
    rows, statements = _inserts("rows"), _inserts("statements")

    def token(i):
        return ApiClient(Client(), "test-key").post("/api/token/viewer", {"userId": f"gc-{i}"})

    with TableLock() as lock:
        threads, answers = _in_threads(lock, 8, token)  # one INSERT waits on the lock, seven behind it
        assert ViewerSession.objects.count() == 0
        assert all(answer is None for answer in answers), "a join was answered before its commit"
        lock.release()
        _joined(threads)
    assert [a.status_code for a in answers] == [200] * 8
    by_user = {s.user_id: s for s in ViewerSession.objects.filter(left_at__isnull=True)}
    assert set(by_user) == {f"gc-{i}" for i in range(8)}
    for i, answer in enumerate(answers):
        assert by_user[f"gc-{i}"].participant_id == answer.json()["data"]["participantId"]
    assert _inserts("rows") - rows == 8
    # The leader's own statement, then one statement for the seven that queued behind it.
    assert _inserts("statements") - statements == 2


def test_the_same_viewer_twice_in_one_batch_opens_one_session(master_stage):
    from django.utils import timezone

    def join(i):
        user = "first" if i == 0 else "twice"
        return sessions.insert_open(user_id=user, stage=master_stage, participant_id=f"p{i}", at=timezone.now())

    with TableLock() as lock:
        threads, outcomes = _in_threads(lock, 4, join)
        lock.release()
        _joined(threads)
    assert outcomes == [True, True, False, False]  # the same viewer three times in one statement
    assert ViewerSession.objects.filter(user_id="twice", left_at__isnull=True).count() == 1


def test_one_bad_join_in_a_batch_fails_alone(master_stage):
    from django.db import DataError
    from django.utils import timezone

    def join(i):
        user = "x" * 200 if i == 2 else f"ok-{i}"  # longer than the column: PostgreSQL refuses it
        return sessions.insert_open(user_id=user, stage=master_stage, participant_id="p", at=timezone.now())

    with TableLock() as lock:
        threads, outcomes = _in_threads(lock, 4, join)
        lock.release()
        _joined(threads)
    assert [type(o) for o in outcomes] == [bool, bool, DataError, bool]
    assert [o for o in outcomes if isinstance(o, bool)] == [True, True, True]
    assert set(ViewerSession.objects.values_list("user_id", flat=True)) == {"ok-0", "ok-1", "ok-3"}


def test_a_lone_join_is_written_at_once_by_its_own_statement(master_stage):
    from django.utils import timezone

    statements = _inserts("statements")
    assert sessions.insert_open(user_id="alone", stage=master_stage, participant_id="p", at=timezone.now())
    assert _inserts("statements") - statements == 1
    assert ViewerSession.objects.filter(user_id="alone").exists()


def test_a_join_that_waits_past_the_timeout_is_withdrawn_and_answered_as_the_database_away(master_stage, monkeypatch):
    from django.db import OperationalError
    from django.utils import timezone

    monkeypatch.setattr(sessions._JOINS, "timeout", 0.05)

    def join(i):
        return sessions.insert_open(user_id=f"slow-{i}", stage=master_stage, participant_id="p", at=timezone.now())

    with TableLock() as lock:
        results = [None] * 3

        def run(i):
            try:
                results[i] = join(i)
            except Exception as exc:
                results[i] = exc
            finally:
                connections.close_all()

        leader = threading.Thread(target=run, args=(0,))
        leader.start()
        _wait(lambda: lock.waiting() == 1)  # its INSERT waits on the lock until released below
        followers = [threading.Thread(target=run, args=(i,)) for i in (1, 2)]
        for thread in followers:
            thread.start()
        _joined(followers)  # they give up while the lock is still held
        assert [type(r) for r in results[1:]] == [OperationalError, OperationalError]
        assert all("withdrawn" in str(r) for r in results[1:])
        assert sessions._JOINS.pending == 0
        lock.release()
        _joined([leader])
    assert results[0] is True
    assert list(ViewerSession.objects.values_list("user_id", flat=True)) == ["slow-0"]
