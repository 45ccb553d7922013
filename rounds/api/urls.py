from django.urls import path

from rounds.api import views

urlpatterns = [
    path("projects/<slug:slug>/rounds/", views.RoundsView.as_view(), name="api-rounds"),
    path("projects/<slug:slug>/rounds/<int:number>/", views.RoundDetailView.as_view(), name="api-round"),
    path("projects/<slug:slug>/rounds/<int:number>/retry/", views.RoundRetryView.as_view(), name="api-round-retry"),
]
