"""What our code relies on in third-party packages beyond their documented API, one test each: when
an upgrade changes it, this fails here, by name, instead of the feature quietly degrading.

- Django's `health_check_done` (ivsproject.api.fastpath.skip_health_check): Django is pinned to a
  minor range in requirements.in.
"""

from django.db.utils import ConnectionHandler

from ivsproject.api.fastpath import skip_health_check


def test_djangos_health_check_flag_still_skips_the_check(django_db_blocker):
    """The fast path marks a connection health-checked so Django runs no `SELECT 1` before the
    request's first query. Django checks a reused connection with `is_usable()` when
    CONN_HEALTH_CHECKS is on, once per request."""
    probe = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": ":memory:",
                "CONN_MAX_AGE": None,  # persistent, so it survives the request boundary
                "CONN_HEALTH_CHECKS": True,
            }
        }
    )["default"]
    checks = []

    class Counting(type(probe)):
        def is_usable(self):
            checks.append(1)
            return super().is_usable()

    conn = Counting(probe.settings_dict, "probe")  # an in-memory database of its own, not the tests'
    with django_db_blocker.unblock():
        _check(conn, checks)


def _check(conn, checks):
    try:
        conn.ensure_connection()
        conn.close_if_unusable_or_obsolete()  # a request boundary, as Django's request signals run it
        conn.cursor().execute("SELECT 1")
        assert checks == [1], "Django no longer health-checks a reused connection: nothing to skip"

        conn.close_if_unusable_or_obsolete()
        skip_health_check(conn)
        conn.cursor().execute("SELECT 1")
        assert checks == [1], "health_check_done no longer skips Django's health check"
        assert conn.connection is not None
    finally:
        conn.close()
