from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from labeling.views import LogoutView

# A database that cannot be reached, even outside a view, is a 503, not a 500 (config/errors.py).
handler500 = "config.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as a file, so the CSP needs no inline script;
    # our template moves its <style> block into a file, so it needs no inline style either.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="labeling/swagger_ui.html"),
         name="api-docs"),
    path("api/v1/", include("rewards.api.urls")),
    path("api/v1/", include("labeling.api.urls")),
    path("api/v1/", include("crowd.api.urls")),
    path("api/v1/", include("rounds.api.urls")),
    path("review/", include("labeling.quality.urls")),
    path("runs/", include("training.urls")),
    path("rounds/", include("rounds.urls")),
    path("", include("labeling.urls")),
]
