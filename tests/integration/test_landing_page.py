"""The landing page at `/`: a styled page of links, not the debug 404."""

import pytest
from django.urls import path

from apps.common import views
from config import urls as project_urls


def test_the_landing_page_links_the_operator_pages(client, db):
    response = client.get("/", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    for href in ("/api/v1/docs", "/api/v1/openapi.json", "/admin/", "/readyz", "/healthz", "/metrics"):
        assert f'href="{href}"' in page, href
    assert 'href="http://127.0.0.1:5555/"' in page  # Flower, on the host the browser used
    assert 'href="/static/common/landing.css"' in page
    assert "https://" not in page  # nothing from a CDN


def test_the_dashboard_is_linked_exactly_where_it_is_served(client, db, settings):
    linked = 'href="/ops/shop-floor/"' in client.get("/").content.decode()
    assert linked == views._serves(views.DASHBOARD_PATH)

    settings.ROOT_URLCONF = __name__  # a deployment that serves the dashboard
    assert 'href="/ops/shop-floor/"' in client.get("/").content.decode()


@pytest.mark.parametrize(
    "host, hostname",
    [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "[::1]"), ("ops.example.test", "ops.example.test")],
)
def test_flower_is_linked_on_the_host_the_browser_used(rf, settings, host, hostname):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "ops.example.test"]
    assert views._hostname(rf.get("/", HTTP_HOST=host)) == hostname


def _dashboard(request):  # stands in for the shop-floor dashboard
    return views.landing(request)


urlpatterns = [*project_urls.urlpatterns, path("ops/shop-floor/", _dashboard)]
