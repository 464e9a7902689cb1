"""The landing page at `/`: where an operator finds the API docs, the admin, the dashboard, Flower and the probes."""

from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse

# The shop-floor dashboard is its own app; the landing page links it only where this deployment serves it.
DASHBOARD_PATH = "/ops/shop-floor/"
FLOWER_PORT = 5555


def landing(request):
    return render(
        request,
        "common/landing.html",
        {
            "docs_url": reverse("api-v1:openapi-view"),
            "openapi_url": reverse("api-v1:openapi-json"),
            "admin_url": reverse("admin:index"),
            "dashboard_url": DASHBOARD_PATH if _serves(DASHBOARD_PATH) else None,
            "flower_url": f"{request.scheme}://{_hostname(request)}:{FLOWER_PORT}/",
        },
    )


def _serves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _hostname(request) -> str:
    """The host the browser used, without its port (an IPv6 address keeps its brackets)."""
    domain, _port = split_domain_port(request.get_host())
    return domain
