from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from liveops import health
from liveops.home import home

handler400 = "liveops.errors.bad_request"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("home/", home, name="home"),
    path("teaching/", include("teaching.urls")),
    path("", include("labs.urls")),
]
