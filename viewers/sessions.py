"""Durable session rows: open one, close one, close many — the SQL-level writes that the viewer
services (`viewers.services`) compose. Closing is idempotent (`left_at IS NULL` filters), so a
re-run never counts watch time twice.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from prometheus_client import Counter

from ivsproject.groupcommit import GroupCommit, GroupCommitTimeout
from stages.models import Stage
from viewers.models import ViewerSession

Reason = ViewerSession.LeaveReason
_T = TypeVar("_T")
# Rows per statement when closing (and reading) sessions in bulk.
BATCH = 1000


def insert_open(*, user_id: str, stage: Stage, participant_id: str, at: datetime) -> bool:
    """INSERT an open session; False when one is open already (the partial unique constraint).

    Why: a plain INSERT through the cursor, not `Model.save()` — the ORM's instance, pre/post-save
    machinery and SQL compiler were a third of the INSERT's CPU per viewer token. Columns come from
    the model; values are adapted by the backend, so SQLite works as PostgreSQL does. On
    PostgreSQL, concurrent joins of one process share one statement and one commit (`_JOINS`, a
    `GroupCommit`).
    """
    when = connection.ops.adapt_datetimefield_value(at)
    params: list[Any] = [user_id, stage.pk, participant_id, when, when, "", 0.0]
    if connection.in_atomic_block:
        # Inside a transaction a failed INSERT would break it: a savepoint keeps it usable.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_insert_sql(), params)
        except IntegrityError:
            return False
        return True
    if connection.vendor == "postgresql":
        try:
            return _JOINS.submit(params)
        except GroupCommitTimeout as exc:
            # The database is too slow to take the join: answered as the database being away (503).
            raise OperationalError(str(exc)) from exc
    return _insert_one(params)


def _insert_one(params: list[Any]) -> bool:
    """Autocommit: one statement is its own transaction; no BEGIN/COMMIT round trips."""
    try:
        _reconnecting(lambda: _execute_autocommit(_insert_sql(), params))
    except IntegrityError:
        return False
    return True


def _insert_many(batch: list[list[Any]]) -> list[bool | Exception]:
    """Several joins in one INSERT (one commit): True for each row written, False for each that met
    an open session. `ON CONFLICT DO NOTHING` covers the unique constraints only: any other error
    (a stage deleted meanwhile, say) sends every row through `_insert_one`, so each join gets its
    own answer and one bad row never fails the others."""
    try:
        if len(batch) == 1:
            return [_outcome(_insert_one, batch[0])]
        sql = _insert_sql(rows=len(batch), returning_new=True)
        flat = [value for params in batch for value in params]
        try:
            written = collections.Counter(_reconnecting(lambda: _execute_autocommit(sql, flat, returning=True)))
        except (OperationalError, InterfaceError) as exc:
            return [exc] * len(batch)  # the database is away: every join in the statement failed
        except DatabaseError:
            return [_outcome(_insert_one, params) for params in batch]
        outcomes: list[bool | Exception] = []
        for params in batch:
            row = (params[0], params[1])
            outcomes.append(written[row] > 0)  # the same viewer twice in one batch: the first one wins
            written[row] -= 1
        return outcomes
    finally:
        GROUP_INSERTS.labels("statements").inc()
        GROUP_INSERTS.labels("rows").inc(len(batch))


def _outcome(insert: Callable[[list[Any]], bool], params: list[Any]) -> bool | Exception:
    try:
        return insert(params)
    except Exception as exc:
        return exc


def _reconnecting(run: Callable[[], _T]) -> _T:
    try:
        return run()
    except (OperationalError, InterfaceError):
        # A dead persistent connection (the database restarted; the token fast path skips the
        # per-request health check): once more on a fresh one. Had the first INSERT committed after
        # all, the retry meets the open session (IntegrityError, or no row returned).
        connection.close()
        return run()


GROUP_INSERTS = Counter(
    "ivs_session_inserts_total", "Session INSERTs of viewer joins on PostgreSQL (rows / statements = batch)", ["kind"]
)
# Group commit of viewer joins (PostgreSQL). Why: each viewer token was one autocommit INSERT — one
# round trip, one WAL flush, one plan/execute in PostgreSQL. In a flash crowd the joins queue behind
# one another anyway; batched, a row costs PostgreSQL a fraction of that and the round trip is
# shared, while each join is still answered only after the commit that holds its row (durability
# exactly a single INSERT's). At most 32 rows per statement: at 32 a row costs PostgreSQL little
# more than at 16, and the statement stays a few kB. A waiting join gives up after 10 s, far beyond
# a healthy commit, rather than hold a web thread for a database that no longer answers.
_JOINS: GroupCommit[list[Any], bool] = GroupCommit(_insert_many, limit=32, timeout=10.0)


def _execute_autocommit(sql: str, params: list[Any], *, returning: bool = False) -> list[tuple[Any, ...]]:
    """One statement outside any transaction; returns the rows of a `RETURNING` statement when
    `returning`.

    Through Django's own cursor, so execute wrappers, SQL logging and APM see it. On PostgreSQL the
    settings bind parameters on the server and prepare a statement once it recurs (`DATABASES`
    OPTIONS `server_side_binding`, `prepare_threshold`): the INSERT is not parsed and planned again
    per viewer token, nor are its values quoted into the SQL by the client.
    """
    cursor = _cursor()
    cursor.execute(sql, params)
    return list(cursor.fetchall()) if returning else []


def _cursor() -> Any:
    """This thread's Django cursor, kept while its connection lives.

    Why: a new cursor per statement cost about as much again as running the prepared INSERT —
    psycopg looks up how to send each parameter's type afresh for every new cursor. A kept cursor
    still goes through Django's wrapper on every execute (execute wrappers, error translation); a
    new one is made when SQL logging is switched on or off (Django picks the logging wrapper when
    it makes a cursor) and after a new connection (`connection_created`)."""
    connection.ensure_connection()  # reconnecting drops the old connection's cursor (below)
    logged = connection.queries_logged
    kept = getattr(_KEPT, "cursor", None)
    if kept is None or kept[0] != logged:
        if kept is not None:
            kept[1].close()
        kept = _KEPT.cursor = (logged, connection.cursor())
    return kept[1]


_KEPT = threading.local()


@receiver(connection_created)
def _drop_kept_cursor(sender: Any, **kwargs: Any) -> None:
    """Connections are per thread, and so is the kept cursor: the new connection's thread drops it."""
    _KEPT.cursor = None


_INSERT_FIELDS = (
    "user_id",
    "stage",
    "participant_id",
    "joined_at",
    "last_heartbeat",
    "leave_reason",
    "watched_seconds",
)


def _insert_sql(rows: int = 1, *, returning_new: bool = False) -> str:
    """The INSERT of `rows` sessions; `returning_new`: skipping rows that meet an open session and
    returning (user_id, stage) of the rows written."""
    cache_key = (connection.vendor, rows, returning_new)
    sql = _INSERT_SQL.get(cache_key)
    if sql is None:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(_column_of(name)) for name in _INSERT_FIELDS)
        placeholders = ", ".join([f"({', '.join(['%s'] * len(_INSERT_FIELDS))})"] * rows)
        sql = f"INSERT INTO {quote(ViewerSession._meta.db_table)} ({columns}) VALUES {placeholders}"  # noqa: S608
        if returning_new:
            key = ", ".join(quote(_column_of(name)) for name in ("user_id", "stage"))
            sql += f" ON CONFLICT DO NOTHING RETURNING {key}"
        _INSERT_SQL[cache_key] = sql
    return sql


def _column_of(name: str) -> str:
    return str(next(field.column for field in ViewerSession._meta.concrete_fields if field.name == name))


_INSERT_SQL: dict[tuple[str, int, bool], str] = {}


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
    return _update_open_from_values(
        "left_at = v.end_at, last_heartbeat = v.end_at, leave_reason = %s, watched_seconds = v.watched",
        "v(id, end_at, watched)",
        ("", "::timestamptz", "::double precision"),
        "s.id = v.id",
        rows,
        head=[reason],
    )


def close_open_on_stage(stage: Stage, ends: list[tuple[str, datetime]], *, reason: str) -> int:
    """Close the open sessions on `stage` of the given viewers, each at its end time (never before
    its join), touching still-open rows only. Returns how many were closed.

    Why: the timeout cleanup read each page of sessions (10,000 model
    instances at 100,000 viewers) only to write them back; on PostgreSQL one UPDATE ... FROM
    (VALUES ...) per batch joins on the open-session key (the partial unique index finds each row)
    and computes the watch time itself, with parameters bound by the server (psycopg's client-side
    binding parsed every 3,000-value statement again).
    """
    if connection.vendor != "postgresql":
        end_of_user = dict(ends)
        closed = 0
        for i in range(0, len(ends), BATCH):
            users = [user for user, _ in ends[i : i + BATCH]]
            sessions = list(
                ViewerSession.objects.filter(stage=stage, user_id__in=users, left_at__isnull=True).only(
                    "pk", "user_id", "joined_at", "last_heartbeat"
                )
            )
            closed += close_many(sessions, reason=reason, end_of={s.pk: end_of_user[s.user_id] for s in sessions})
        return closed
    end = "GREATEST(v.end_at, s.joined_at)"
    return _update_open_from_values(
        f"left_at = {end}, last_heartbeat = {end}, leave_reason = %s, "
        f"watched_seconds = EXTRACT(EPOCH FROM {end} - s.joined_at)",
        "v(user_id, end_at)",
        ("", "::timestamptz"),
        "s.stage_id = %s AND s.user_id = v.user_id",
        ends,
        head=[reason],
        tail=[stage.pk],
    )


def raise_last_heartbeats(stage: Stage, due: list[tuple[str, datetime]]) -> int:
    """Set last_heartbeat = the given time for each (userId, time) whose open session on `stage`
    has an older one (a stored time never moves backwards). Returns the rows changed."""
    if connection.vendor != "postgresql":
        changed = 0
        for i in range(0, len(due), BATCH):
            by_time: dict[datetime, list[str]] = {}
            for user, at in due[i : i + BATCH]:
                by_time.setdefault(at, []).append(user)
            changed += sum(
                ViewerSession.objects.filter(
                    stage=stage, user_id__in=users, left_at__isnull=True, last_heartbeat__lt=at
                ).update(last_heartbeat=at)
                for at, users in by_time.items()
            )
        return changed
    # PostgreSQL: joined on the open-session key (the sessions' ids are not kept in Redis; the
    # partial unique index finds each row).
    return _update_open_from_values(
        "last_heartbeat = v.at",
        "v(user_id, at)",
        ("", "::timestamptz"),
        "s.stage_id = %s AND s.user_id = v.user_id AND s.last_heartbeat < v.at",
        due,
        head=[],
        tail=[stage.pk],
    )


def _update_open_from_values(
    assign: str,
    alias: str,
    casts: tuple[str, ...],
    join: str,
    rows: list[tuple[Any, ...]],
    *,
    head: list[Any],
    tail: list[Any] | None = None,
) -> int:
    """`UPDATE sessions SET <assign> FROM (VALUES <rows>) AS <alias> WHERE <join>` on still-open
    sessions, one statement per BATCH rows (PostgreSQL); `head`/`tail`: the parameters of `assign`
    and `join` around the rows'. Returns the rows changed."""
    table = ViewerSession._meta.db_table
    row = "(" + ", ".join(f"%s{cast}" for cast in casts) + ")"
    changed = 0
    for i in range(0, len(rows), BATCH):
        batch = rows[i : i + BATCH]
        changed += _execute_server_bound(
            f"UPDATE {table} AS s SET {assign} FROM (VALUES {', '.join([row] * len(batch))}) AS {alias} "  # noqa: S608
            f"WHERE {join} AND s.left_at IS NULL",
            [*head, *(value for values in batch for value in values), *(tail or [])],
        )
    return changed


def _execute_server_bound(sql: str, params: list[Any]) -> int:
    """One statement on this thread's connection (inside the current transaction, if any); returns
    the row count. PostgreSQL binds the parameters itself (`server_side_binding`): psycopg's
    client-side binding would quote every one of a batch's thousands of values into the SQL and
    make the server parse them all again."""
    cursor = _cursor()
    cursor.execute(sql, params)
    return int(cursor.rowcount)
