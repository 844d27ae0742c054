"""pytest plugin (loaded with `-p` from pyproject): the embedded Redis for the test default.

It must start before pytest-django reads the settings, which happens while pytest loads the
initial conftests, so it runs at plugin import time. With REDIS_URL set (CI against the
machine's Redis) it does nothing.
"""

import atexit
import os

if not os.environ.get("REDIS_URL"):
    from ivsproject.devtools.embedded_redis import EmbeddedRedis, free_port

    _server = EmbeddedRedis(free_port()).start()
    atexit.register(_server.stop)
    os.environ["REDIS_URL"] = _server.url
