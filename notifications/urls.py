from django.urls import path

from . import api

urlpatterns = [
    path("notifications/", api.NotificationListApi.as_view(), name="api-notifications"),
    path("notifications/read-all/", api.NotificationReadAllApi.as_view(), name="api-notifications-read-all"),
    path("notifications/preferences/", api.PreferenceApi.as_view(), name="api-notification-preferences"),
    path("notifications/<int:notification_id>/read/", api.NotificationReadApi.as_view(), name="api-notification-read"),
]
