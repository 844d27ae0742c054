from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ivsproject.api.health import HealthApi
from ivsproject.api.metrics import metrics_view
from ivsproject.api.probes import LivezApi, ReadyzApi

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("livez", LivezApi.as_view(), name="livez"),
    path("readyz", ReadyzApi.as_view(), name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("tokens.urls")),
    path("api/", include("stages.urls")),
    path("api/", include("viewers.urls")),
    path("api/", include("stats.urls")),
    path("api/", include("reports.urls")),
    path("admin/dashboard/", include("stats.dashboard_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "ivsproject.api.views.not_found"
handler500 = "ivsproject.api.views.server_error"
