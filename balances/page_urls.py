from django.urls import path

from . import views

urlpatterns = [
    path("", views.console, name="depository"),
    path("register/", views.register, name="register"),
]
