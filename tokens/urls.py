from django.urls import path

from tokens import apis

urlpatterns = [
    path("token/publisher", apis.PublisherTokenApi.as_view(), name="token-publisher"),
    path("token/viewer", apis.ViewerTokenApi.as_view(), name="token-viewer"),
    path("token/mediaserver", apis.MediaServerTokenApi.as_view(), name="token-mediaserver"),
]
