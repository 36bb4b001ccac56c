from django.urls import path

from . import views

urlpatterns = [
    path("", views.console, name="depository"),
    path("register/", views.register, name="register"),
    path("issuances/<int:pk>/<str:action>/", views.decide, name="depository-issuance-decide"),
]
