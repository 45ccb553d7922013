from django.urls import path

from labeling.quality import views

app_name = "quality"

urlpatterns = [
    path("", views.project_list, name="projects"),
    path("<slug:slug>/", views.dashboard, name="dashboard"),
    path("<slug:slug>/recompute/", views.recompute, name="recompute"),
    path("<slug:slug>/honeypots/", views.honeypots, name="honeypots"),
    path("<slug:slug>/annotators/", views.annotators, name="annotators"),
    path("<slug:slug>/annotators/<int:user_id>/", views.annotator_detail, name="annotator"),
    path("<slug:slug>/annotators/<int:user_id>/status/", views.annotator_status, name="annotator-status"),
    path("<slug:slug>/flagged/", views.flagged, name="flagged"),
    path("<slug:slug>/judgments/<int:judgment_id>/override/", views.override, name="override"),
    path("<slug:slug>/audit/", views.audit, name="audit"),
]
