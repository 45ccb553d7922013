from django.urls import path

from rewards.api import views

urlpatterns = [
    path("reward-models/<int:pk>/score/", views.ScoreView.as_view(), name="api-reward-score"),
]
