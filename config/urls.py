from django.contrib import admin
from django.urls import path

from apps.analytics.dashboard import shop_floor
from apps.common.views import landing
from config.api import api
from config.ops import healthz, metrics, readyz

urlpatterns = [
    path("", landing, name="landing"),
    path("api/v1/", api.urls),
    path("healthz", healthz),
    path("readyz", readyz),
    path("metrics", metrics),
    path("admin/", admin.site.urls),
    path("ops/shop-floor/", shop_floor, name="shop-floor"),
]

handler404 = "config.ops.not_found"
handler500 = "config.ops.server_error"
