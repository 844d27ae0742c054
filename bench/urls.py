"""The product's URLs plus the bare DRF baselines every row of `make bench` is divided by.

The baselines come last: URL resolution walks the patterns in order, so a baseline listed first
would win a little per request over every product endpoint on routing alone.
"""

from django.urls import path

from bench.views import BaselineApi
from ivsproject.urls import handler404, handler500
from ivsproject.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    *product_urlpatterns,
    path("api/bench/baseline/<str:shape>", BaselineApi.as_view(), name="bench-baseline"),
]

__all__ = ["handler404", "handler500", "urlpatterns"]
