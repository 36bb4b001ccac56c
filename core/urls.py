from django.urls import path

from . import views

urlpatterns = [
    path("", views.otp_verify, name="otp-verify"),
    path("enrol/", views.otp_enrol, name="otp-enrol"),
]
