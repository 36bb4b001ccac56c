from django.urls import path

from . import views

urlpatterns = [
    path("", views.monitor, name="settlement-monitor"),
    path("data/", views.monitor_data, name="settlement-monitor-data"),
    path("trades/<int:trade_id>/<str:action>/", views.trade_action, name="settlement-trade-action"),
]
