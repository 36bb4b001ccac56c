"""The KYC API (``kyc.api``), mounted at /api/v1/kyc/."""

from django.urls import path

from . import api

urlpatterns = [
    path("register/", api.RegisterApi.as_view(), name="api-kyc-register"),
    path("me/", api.MeApi.as_view(), name="api-kyc-me"),
    path("me/questionnaire/", api.QuestionnaireApi.as_view(), name="api-kyc-me-questionnaire"),
    path("me/documents/", api.MeDocumentsApi.as_view(), name="api-kyc-me-documents"),
    path("me/qualification/", api.MeQualificationApi.as_view(), name="api-kyc-me-qualification"),
    path("me/apply/", api.MeApplyApi.as_view(), name="api-kyc-me-apply"),
    path("applications/", api.ApplicationListApi.as_view(), name="api-kyc-applications"),
    path("applications/<int:profile_id>/", api.ApplicationDetailApi.as_view(), name="api-kyc-application"),
    path(
        "applications/<int:profile_id>/questionnaire/",
        api.ApplicationQuestionnaireApi.as_view(),
        name="api-kyc-application-questionnaire",
    ),
    path(
        "applications/<int:profile_id>/documents/",
        api.ApplicationDocumentsApi.as_view(),
        name="api-kyc-application-documents",
    ),
    path(
        "applications/<int:profile_id>/qualification/",
        api.ApplicationQualificationApi.as_view(),
        name="api-kyc-application-qualification",
    ),
    path("applications/<int:profile_id>/submit/", api.ApplicationSubmitApi.as_view(), name="api-kyc-submit"),
    path("applications/<int:profile_id>/approve/", api.ApplicationApproveApi.as_view(), name="api-kyc-approve"),
    path("applications/<int:profile_id>/reject/", api.ApplicationRejectApi.as_view(), name="api-kyc-reject"),
    path("applications/<int:profile_id>/reveal/", api.ApplicationRevealApi.as_view(), name="api-kyc-reveal"),
    path("documents/<int:document_id>/", api.DocumentApi.as_view(), name="api-kyc-document"),
]
