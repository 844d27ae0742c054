"""Durable session rows: open one, close one, close many — the SQL-level writes that the viewer
services (`viewers.services`) compose. Closing is idempotent (`left_at IS NULL` filters), so a
re-run never counts watch time twice.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)

from stages.models import Stage
from viewers.models import ViewerSession

Reason = ViewerSession.LeaveReason
# Rows per statement when closing (and reading) sessions in bulk.
BATCH = 1000


def insert_open(*, user_id: str, stage: Stage, participant_id: str, at: datetime) -> bool:
    """INSERT an open session; False when one is open already (the partial unique constraint).

    Why (bench/, issue 7): a plain INSERT through the cursor, not `Model.save()` — the ORM's
    instance, pre/post-save machinery and SQL compiler were ~100 µs of CPU of the ~300 µs the
    INSERT cost per viewer token. Columns come from the model; values are adapted by the backend,
    so SQLite works as PostgreSQL does.
    """
    when = connection.ops.adapt_datetimefield_value(at)
    params: list[Any] = [user_id, stage.pk, participant_id, when, when, "", 0.0]
    try:
        if connection.in_atomic_block:
            # Inside a transaction a failed INSERT would break it: a savepoint keeps it usable.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_insert_sql(), params)
        else:
            # Autocommit: one statement is its own transaction; no BEGIN/COMMIT round trips.
            try:
                _execute_autocommit(_insert_sql(), params)
            except (OperationalError, InterfaceError):
                # A dead persistent connection (the database restarted; the token fast path skips
                # the per-request health check): once more on a fresh one. Had the first INSERT
                # committed after all, the retry meets the open session (IntegrityError below).
                connection.close()
                _execute_autocommit(_insert_sql(), params)
    except IntegrityError:
        return False
    return True


def _execute_autocommit(sql: str, params: list[Any]) -> None:
    """One statement outside any transaction; on PostgreSQL as a prepared statement.

    Why (bench/, issue 7): Django's psycopg cursors bind parameters on the client — each call parses
    the SQL for placeholders, quotes every value and makes PostgreSQL parse and plan the INSERT
    again: ~60 µs of client and ~30 µs of server CPU per viewer token. A server-binding cursor with
    `prepare=True` sends only the values after the first time (per connection). Errors still come
    out as Django's (IntegrityError, OperationalError) and mark the connection as Django does.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        with db.cursor() as django_cursor:
            django_cursor.execute(sql, params)
        return
    db.ensure_connection()
    raw = db.connection
    prepared = getattr(_PREPARED, "cursor", None)
    if prepared is None or prepared.connection is not raw or prepared.closed:
        import psycopg

        # Reused while its connection lives: a new cursor per statement cost ~60 µs more. One
        # per thread (Django's connections are per thread); a new connection replaces it.
        prepared = _PREPARED.cursor = psycopg.Cursor(raw)
    with db.wrap_database_errors:
        prepared.execute(sql, params, prepare=True)


_PREPARED = threading.local()


_INSERT_FIELDS = (
    "user_id",
    "stage",
    "participant_id",
    "joined_at",
    "last_heartbeat",
    "leave_reason",
    "watched_seconds",
)


def _insert_sql() -> str:
    sql = _INSERT_SQL.get(connection.vendor)
    if sql is None:
        meta, quote = ViewerSession._meta, connection.ops.quote_name
        column_of = {f.name: f.column for f in meta.concrete_fields if f.column}
        columns = ", ".join(quote(column_of[name]) for name in _INSERT_FIELDS)
        placeholders = ", ".join(["%s"] * len(_INSERT_FIELDS))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
        _INSERT_SQL[connection.vendor] = sql
    return sql


_INSERT_SQL: dict[str, str] = {}


def close(session: ViewerSession, *, reason: str, at: datetime) -> bool:
    """Close one session exactly once; watch time runs from join to `at` (never negative)."""
    end = max(at, session.joined_at)
    updated = ViewerSession.objects.filter(pk=session.pk, left_at__isnull=True).update(
        left_at=end,
        last_heartbeat=max(session.last_heartbeat, end) if reason != Reason.TIMEOUT else end,
        leave_reason=reason,
        watched_seconds=(end - session.joined_at).total_seconds(),
    )
    return bool(updated)


def close_many(sessions: list[ViewerSession], *, reason: str, end_of: dict[int, datetime]) -> int:
    """Close many sessions in a few statements, touching still-open rows only (a session closed
    meanwhile is never rewritten: nothing is counted twice). Returns how many were closed."""
    rows = []
    for session in sessions:
        end = max(end_of[session.pk], session.joined_at)
        session.left_at = session.last_heartbeat = end
        session.leave_reason = reason
        session.watched_seconds = (end - session.joined_at).total_seconds()
        rows.append((session.pk, end, session.watched_seconds))
    if connection.vendor != "postgresql":
        return ViewerSession.objects.filter(left_at__isnull=True).bulk_update(
            sessions, ["left_at", "last_heartbeat", "leave_reason", "watched_seconds"], batch_size=BATCH
        )
    # PostgreSQL: one UPDATE ... FROM (VALUES ...) per batch. Django's bulk_update builds a CASE
    # per column that PostgreSQL evaluates row by row: ~10x slower at 10,000 timed-out viewers
    # (bench row 6: 5.2 s against 0.5 s).
    table = ViewerSession._meta.db_table
    closed = 0
    with connection.cursor() as cursor:
        for i in range(0, len(rows), BATCH):
            batch = rows[i : i + BATCH]
            values = ", ".join(["(%s, %s::timestamptz, %s::double precision)"] * len(batch))
            cursor.execute(
                f"UPDATE {table} AS s SET left_at = v.end_at, last_heartbeat = v.end_at, "  # noqa: S608
                f"leave_reason = %s, watched_seconds = v.watched "
                f"FROM (VALUES {values}) AS v(id, end_at, watched) "
                f"WHERE s.id = v.id AND s.left_at IS NULL",
                [reason, *(value for row in batch for value in row)],
            )
            closed += cursor.rowcount
    return closed
