"""What our code relies on in third-party packages beyond their documented API, one test each: when
an upgrade changes it, this fails here, by name, instead of the feature quietly degrading.

- Django's `health_check_done` (ivsproject.api.fastpath.skip_health_check): Django is pinned to a
  minor range in requirements.in.
- Twisted's start-up order (ivsproject.asgi.GracefulShutdown): the drain takes SIGTERM over from a
  `callWhenRunning` callback, which works because the reactor installs its own signal handlers in
  the "during startup" phase, before such callbacks ("after startup") run. Public calls only, but
  the order is only described in Twisted's code, so it is checked here.
"""

import subprocess
import sys
import textwrap

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


TWISTED_START_UP = textwrap.dedent(
    """
    import os, signal
    from twisted.internet import asyncioreactor
    asyncioreactor.install()
    from twisted.internet import reactor
    from twisted.internet.interfaces import IListeningPort
    from twisted.internet.protocol import Factory

    seen = []
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("before run"))
    before = signal.getsignal(signal.SIGTERM)
    port = reactor.listenTCP(0, Factory(), interface="127.0.0.1")

    def running():
        seen.append("reactor handler installed" if signal.getsignal(signal.SIGTERM) is not before else "not yet")
        seen.append([r is port for r in reactor.getReaders() if IListeningPort.providedBy(r)])
        signal.signal(signal.SIGTERM, lambda signum, frame: reactor.callFromThread(taken_over))
        os.kill(os.getpid(), signal.SIGTERM)

    def taken_over():
        seen.append("ours")
        reactor.stop()

    reactor.callWhenRunning(running)
    reactor.callLater(10, reactor.stop)
    reactor.run(installSignalHandlers=True)
    print(seen)
    """
)


def test_twisted_installs_its_signal_handlers_before_callwhenrunning():
    """SIGTERM reaches the handler installed from `callWhenRunning` (not Twisted's, which would stop
    the reactor at once), and the reactor's readers show its listening ports as IListeningPort."""
    result = subprocess.run([sys.executable, "-c", TWISTED_START_UP], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(["reactor handler installed", [True], "ours"])
