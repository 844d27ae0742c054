from django.urls import path

from stages import apis

urlpatterns = [
    path("stage", apis.StageCreateApi.as_view(), name="stage-create"),
    path("stage/list", apis.StageListApi.as_view(), name="stage-list"),
    path("stage/master/info", apis.MasterStageInfoApi.as_view(), name="stage-master-info"),
    # `path:` keeps the ARN's `/`; `:` needs no escaping. URL-encoded ARNs arrive decoded.
    path("stage/<path:stage_arn>", apis.StageDeleteApi.as_view(), name="stage-delete"),
    path("rooms", apis.RoomsApi.as_view(), name="rooms"),
    path("rooms/<str:room_id>", apis.RoomApi.as_view(), name="room"),
]
