from django.urls import path

from . import views

urlpatterns = [
    path("", views.console, name="supervision"),
    path("freezes/", views.freezes, name="supervision-freezes"),
    path("corrections/", views.corrections, name="supervision-corrections"),
    path("accounts/", views.accounts, name="supervision-accounts"),
    path("accounts/<str:code>/", views.account, name="supervision-account"),
    path("<str:what>/<int:pk>/<str:action>/", views.decide, name="supervision-decide"),
]
