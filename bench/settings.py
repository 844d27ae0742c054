"""Bench-only settings overlay: the production settings plus the baseline views (bench/urls.py).

Nothing else changes, so the baseline runs through exactly the middleware, renderer and server
configuration the product endpoints run through.
"""

from ivsproject.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
