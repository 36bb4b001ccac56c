from django.urls import path

from . import views

urlpatterns = [
    path("", views.monitor, name="settlement-monitor"),
    path("data/", views.monitor_data, name="settlement-monitor-data"),
    path("trades/<int:trade_id>/<str:action>/", views.trade_action, name="settlement-trade-action"),
    path("instructions/", views.instruction_create, name="settlement-instruction-create"),
    path("instructions/<int:instruction_id>/end/", views.instruction_end, name="settlement-instruction-end"),
]
