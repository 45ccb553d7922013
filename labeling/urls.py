from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("history/", views.history_page, name="history"),
    path("label/<slug:slug>/", views.label_page, name="label"),
    path("label/<slug:slug>/next/", views.next_task, name="next"),
    path("label/<slug:slug>/submit/", views.submit, name="submit"),
    path("label/<slug:slug>/skip/", views.skip, name="skip"),
    path("label/<slug:slug>/undo/", views.undo, name="undo"),
    path("label/<slug:slug>/revisit/", views.revisit, name="revisit"),
]
