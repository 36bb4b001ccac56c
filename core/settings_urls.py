"""``settings/`` (a user's own settings) and, in ``password_reset_urlpatterns``, ``password-reset/``."""

from django.urls import path

from . import settings_views as views

urlpatterns = [
    path("", views.settings_home, name="settings"),
    path("password/", views.password_change, name="settings-password"),
    path("email/", views.email_change, name="settings-email"),
    path("email/remove/", views.email_remove, name="settings-email-remove"),
    path("email/confirm/<str:token>/", views.email_confirm, name="settings-email-confirm"),
    # settings/api-tokens/ is added beside these by the API tokens page.
]

# Django's URL names, which its views reverse.
password_reset_urlpatterns = [
    path("", views.PasswordResetView.as_view(), name="password_reset"),
    path("sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
