from django.urls import path

from reports import apis

urlpatterns = [
    path("reports/broadcasts", apis.BroadcastListApi.as_view(), name="broadcast-list"),
    path("reports/broadcasts/<str:broadcast_id>", apis.BroadcastDetailApi.as_view(), name="broadcast-detail"),
]
