from django.urls import path

from . import statement_views

urlpatterns = [
    path("", statement_views.my_statement, name="my-statement"),
    path("certificate/", statement_views.my_certificate, name="my-certificate"),
]
