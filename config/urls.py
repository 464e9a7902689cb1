from django.contrib import admin
from django.urls import path

from config.api import api
from config.ops import healthz, metrics, readyz

urlpatterns = [
    path("api/v1/", api.urls),
    path("healthz", healthz),
    path("readyz", readyz),
    path("metrics", metrics),
    path("admin/", admin.site.urls),
]

handler404 = "config.ops.not_found"
handler500 = "config.ops.server_error"
