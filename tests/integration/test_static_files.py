"""Static files (the admin's, Swagger UI's, the landing page's) are served by the application itself, whitenoise in
the middleware: from the apps' folders in debug mode with no collectstatic step (`make run`), and in production
from what `collectstatic` wrote, under hashed names (the image)."""

import re

import httpx
import pytest
from django.conf import settings

from tests.support.processes import Web, process_env, run_python


@pytest.mark.parametrize("path", ["admin/css/base.css", "ninja/swagger-ui.css", "common/landing.css"])
def test_debug_mode_serves_static_files_without_collectstatic(client, path):
    response = client.get(f"/static/{path}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")


def test_the_api_docs_use_the_bundled_swagger_ui(client, db):
    page = client.get("/api/v1/docs").content.decode()
    assert 'src="/static/ninja/swagger-ui-bundle.js"' in page and "cdn." not in page


def test_a_production_process_serves_collected_hashed_static_files(tmp_path, django_db_setup):
    """A production gunicorn (debug off, a secret key of its own) after `collectstatic` into a folder of its own."""
    (tmp_path / "collected_settings.py").write_text(
        f"from tests.settings import *  # noqa: F403\nSTATIC_ROOT = {str(tmp_path / 'static')!r}\n"
    )
    env = process_env(
        DJANGO_SETTINGS_MODULE="collected_settings",
        PYTHONPATH=str(tmp_path),
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=f"static-files-test-{settings.RUN_ID}-0123456789abcdefghijklmnopqrstuvwxyz",
        SECURE_SSL_REDIRECT="0",
    )
    run_python("manage.py", "collectstatic", "--noinput", "-v", "0", env=env)
    web = Web(f"static-web-{settings.RUN_ID}", env).start()
    try:
        web.wait_ready()
        for page, stylesheet in (("/admin/login/", "admin/css/base"), ("/", "common/landing")):
            html = httpx.get(web.url + page, timeout=10).text
            [hashed] = re.findall(rf'href="(/static/{stylesheet}\.[0-9a-f]{{12}}\.css)"', html)
            response = httpx.get(web.url + hashed, headers={"Accept-Encoding": "gzip"}, timeout=10)
            assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/css")
            assert response.headers["Content-Encoding"] == "gzip"  # compressed at collectstatic
            assert "immutable" in response.headers["Cache-Control"]  # the name changes with the content
    finally:
        web.stop()
