from django.urls import path

from crowd.api import views

urlpatterns = [
    path("projects/<slug:slug>/tasks/", views.TasksView.as_view(), name="api-crowd-tasks"),
    path("projects/<slug:slug>/judgments/", views.JudgmentsView.as_view(), name="api-crowd-judgments"),
]
