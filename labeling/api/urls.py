from django.urls import path

from labeling.api import views

urlpatterns = [
    path("projects/<slug:slug>/", views.ProjectView.as_view(), name="api-project"),
    path("projects/<slug:slug>/items/", views.ItemsView.as_view(), name="api-items"),
    path("projects/<slug:slug>/export/", views.ExportView.as_view(), name="api-export"),
]
