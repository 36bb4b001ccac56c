from django.urls import path

from . import views

urlpatterns = [
    path("", views.trail, name="audit-trail"),
    path("evidence/", views.evidence, name="audit-evidence"),
    path("<int:event_id>/", views.event_detail, name="audit-event"),
]
