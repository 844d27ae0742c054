"""The session store's statements go through Django's own cursors: execute wrappers (and with them
SQL logging and APM) see the viewer join's INSERT. On PostgreSQL the settings bind parameters on the
server and prepare recurring statements, unless DATABASE_PREPARED_STATEMENTS turns that off."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from viewers import sessions
from viewers.models import ViewerSession

# Outside a test transaction: the join takes its production path (autocommit; on PostgreSQL the
# group commit).
pytestmark = pytest.mark.django_db(transaction=True)

TABLE = ViewerSession._meta.db_table


class Recorder:
    """An execute wrapper that records each statement it sees."""

    def __init__(self):
        self.statements = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(sql)
        return execute(sql, params, many, context)

    def inserts(self):
        return [sql for sql in self.statements if sql.startswith(f"INSERT INTO {connection.ops.quote_name(TABLE)}")]


def test_an_execute_wrapper_around_a_join_sees_its_insert(master_stage):
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        assert sessions.insert_open(user_id="seen", stage=master_stage, participant_id="p", at=timezone.now())
    assert len(recorder.inserts()) == 1
    assert ViewerSession.objects.filter(user_id="seen", left_at__isnull=True).exists()


def test_an_execute_wrapper_around_a_viewer_token_request_sees_the_join_insert(api, master_stage):
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        response = api.post("/api/token/viewer", {"userId": "via-api"})
    assert response.status_code == 200
    assert len(recorder.inserts()) == 1
    assert ViewerSession.objects.filter(user_id="via-api", left_at__isnull=True).exists()


def test_sql_logging_sees_the_join_insert_even_after_joins_without_it(master_stage):
    assert sessions.insert_open(user_id="before", stage=master_stage, participant_id="p", at=timezone.now())
    with CaptureQueriesContext(connection) as logged:
        assert sessions.insert_open(user_id="logged", stage=master_stage, participant_id="p", at=timezone.now())
    assert [q for q in logged.captured_queries if q["sql"].startswith("INSERT INTO")], logged.captured_queries
    recorder = Recorder()
    with connection.execute_wrapper(recorder):  # and logging off again: still through the wrappers
        assert sessions.insert_open(user_id="after", stage=master_stage, participant_id="p", at=timezone.now())
    assert len(recorder.inserts()) == 1


def test_a_join_after_the_connection_was_closed_goes_out_on_the_new_one(master_stage):
    assert sessions.insert_open(user_id="first", stage=master_stage, participant_id="p", at=timezone.now())
    connection.close()
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        assert sessions.insert_open(user_id="second", stage=master_stage, participant_id="p", at=timezone.now())
    assert len(recorder.inserts()) == 1
    assert set(ViewerSession.objects.values_list("user_id", flat=True)) == {"first", "second"}


def test_a_join_that_meets_an_open_session_is_still_seen_and_answers_false(master_stage):
    at = timezone.now()
    assert sessions.insert_open(user_id="twice", stage=master_stage, participant_id="p1", at=at)
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        assert not sessions.insert_open(user_id="twice", stage=master_stage, participant_id="p2", at=at)
    assert recorder.inserts(), "the refused INSERT went past the wrappers"


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("server-side binding and prepared statements are PostgreSQL's")


def test_postgresql_binds_on_the_server_and_prepares_the_join_insert_once_it_recurs(postgresql, master_stage):
    assert connection.features.uses_server_side_binding
    for i in range(8):  # past psycopg's threshold, on this thread's connection
        assert sessions.insert_open(user_id=f"p-{i}", stage=master_stage, participant_id="p", at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any(statement.startswith(f'INSERT INTO "{TABLE}"') for statement in prepared), prepared


def test_postgresql_closes_sessions_in_bulk_through_the_wrappers(postgresql, master_stage):
    at = timezone.now()
    for user in ("x", "y"):
        sessions.insert_open(user_id=user, stage=master_stage, participant_id="p", at=at)
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        closed = sessions.close_open_on_stage(master_stage, [("x", at), ("y", at)], reason="timeout")
    assert closed == 2
    assert any(sql.startswith(f"UPDATE {TABLE} AS s SET left_at") for sql in recorder.statements)


def _database_options(**env):
    """The PostgreSQL OPTIONS that the settings build from this environment (a fresh interpreter)."""
    code = "import json, ivsproject.settings as s; print(json.dumps(s.DATABASES['default']['OPTIONS']))"
    environment = {name: value for name, value in os.environ.items() if name != "DATABASE_PREPARED_STATEMENTS"}
    environment.update(DATABASE_URL="postgres://user@db.invalid:5432/ivs", **env)
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_prepared_statements_are_on_by_default_and_database_prepared_statements_turns_them_off():
    default = _database_options()
    assert default["server_side_binding"] is True
    assert default["prepare_threshold"] == 5
    off = _database_options(DATABASE_PREPARED_STATEMENTS="false")
    assert off["server_side_binding"] is True  # binding alone keeps no state in the server connection
    assert off["prepare_threshold"] is None
