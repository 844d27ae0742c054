from django.urls import path

from viewers import apis

urlpatterns = [
    path("viewer/heartbeat", apis.ViewerHeartbeatApi.as_view(), name="viewer-heartbeat"),
    path("viewer/leave", apis.ViewerLeaveApi.as_view(), name="viewer-leave"),
    path("viewer/duration", apis.ViewerDurationApi.as_view(), name="viewer-duration"),
    path("viewer/list/<path:stage_arn>", apis.ViewerListApi.as_view(), name="viewer-list"),
]
