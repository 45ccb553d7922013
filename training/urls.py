from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("", views.run_list, name="runs"),
    path("<int:pk>/", views.run_page, name="run"),
    path("<int:pk>/live/", views.run_live, name="run-live"),
    path("<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("<int:pk>/retry/", views.run_retry, name="run-retry"),
]
