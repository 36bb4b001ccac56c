"""The investor's notifications page (``notifications.views``), mounted at /notifications/; its API is
``notifications.urls``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.notification_list, name="notifications"),
    path("read-all/", views.notification_read_all, name="notifications-read-all"),
    path("<int:notification_id>/read/", views.notification_read, name="notification-read"),
]
