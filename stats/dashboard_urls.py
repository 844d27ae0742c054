"""Included by ivsproject/urls.py *before* `admin.site.urls` (the admin's catch-all would win):
`path("admin/dashboard/", include("stats.dashboard_urls"))`."""

from django.urls import path

from stats.dashboard import stats_dashboard

urlpatterns = [
    path("", stats_dashboard, name="stats-dashboard"),
]
