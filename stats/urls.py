from django.urls import path

from stats import apis

urlpatterns = [
    path("stats", apis.StatsApi.as_view(), name="stats"),
    path("stats/viewers", apis.ViewerStatsApi.as_view(), name="stats-viewers"),
    path("stats/publisher", apis.PublisherStatsApi.as_view(), name="stats-publisher"),
    path("stats/rooms", apis.RoomsStatsApi.as_view(), name="stats-rooms"),
    path("events/ivs", apis.IvsEventsApi.as_view(), name="ivs-events"),
]
