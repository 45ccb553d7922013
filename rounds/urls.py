from django.urls import path

from rounds import views

app_name = "rounds"

urlpatterns = [
    path("", views.project_list, name="projects"),
    path("<slug:slug>/", views.round_list, name="list"),
    path("<slug:slug>/start/", views.round_start, name="start"),
    path("<slug:slug>/<int:number>/", views.round_page, name="round"),
    path("<slug:slug>/<int:number>/live/", views.round_live, name="round-live"),
    path("<slug:slug>/<int:number>/retry/", views.round_retry_view, name="retry"),
]
