import os
import sys

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
django_application = get_wsgi_application()

from ivsproject.api.checks import run_startup_checks  # noqa: E402
from ivsproject.api.fastpath import FastPathApplication, FastRoute  # noqa: E402
from ivsproject.api.probes import drain_on_termination_signals  # noqa: E402
from ivsproject.api.slowbody import SlowBodyGuard  # noqa: E402
from tokens.apis import viewer_token_fast  # noqa: E402
from viewers.apis import heartbeat_fast  # noqa: E402

run_startup_checks()
# In granian's worker processes, /readyz answers 503 from SIGTERM until the process exits.
if "granian" in sys.modules:
    drain_on_termination_signals()

# The production web server's app: the happy path of the two hot requests skips Django's request
# machinery (ivsproject/api/fastpath.py); every other request is Django's, unchanged.
FAST_ROUTES = {
    ("POST", "/api/viewer/heartbeat"): FastRoute(heartbeat_fast),
    ("POST", "/api/token/viewer"): FastRoute(viewer_token_fast, database=True),
}
# Bodies that stop arriving hold at most two threads of a worker (ivsproject/api/slowbody.py):
# granian has no body read timeout of its own.
application = SlowBodyGuard(FastPathApplication(django_application, FAST_ROUTES))
