"""Fixtures of the browser tests: a real gunicorn as `make run` serves the pages (debug mode, static files through
whitenoise), Debian's Chromium driven by Playwright, and a shop's worth of committed rows to look at."""

import os

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from tests.support.browser import CHROMIUM, Browsing, log_in, stay_local
from tests.support.builders import Shop, pending_command, workplace
from tests.support.factories import AdminFactory, MasterFactory, TechnicianFactory
from tests.support.processes import Web, process_env

STAFF_PASSWORD = "browser-tests-only-pw"


@pytest.fixture(scope="module")
def web(django_db_setup):
    """gunicorn on a free loopback port, on the test database; stopped at the module's end."""
    process = Web(f"browser-web-{settings.RUN_ID}", process_env())
    process.start()
    try:
        yield process.wait_ready()
    finally:
        process.stop()


@pytest.fixture(scope="module")
def chromium(web):
    """Started after the server, so the server's environment stays as `make run` gives it (see below)."""
    # A missing browser is a broken machine, not a reason to pass quietly: .ci/run installs Debian's package.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)", pytrace=False)
    # Playwright's sync API runs an event loop in this thread, and Django refuses database calls from a thread
    # with a running loop. The tests' own queries (building rows) run between browser calls, never inside them.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shop(transactional_db):
    """Committed rows (the server is another process): a staff admin who can log in, a ticket in the review queue,
    one with a running session, and a pending command."""
    admin = AdminFactory(username="browser-admin", is_superuser=True)
    admin.set_password(STAFF_PASSWORD)
    admin.save()
    item, parts = workplace()
    shop = Shop(admin=admin, master=MasterFactory(), technician=TechnicianFactory(), item=item, parts=parts)
    shop.under_review = shop.create(title="Squeaky brakes", item=item, parts=parts)
    other_item, other_parts = workplace(("deck", "throttle"))
    shop.running = shop.started(item=other_item, parts=other_parts, title="Throttle cuts out").ticket
    pending_command(admin, "ticket.approve_review", at=shop.tick(), ticket_id=shop.under_review.pk)
    return shop


@pytest.fixture
def browsing(chromium, web):
    context = chromium.new_context(base_url=web.url, viewport={"width": 1400, "height": 900})
    context.route("**/*", stay_local)
    try:
        yield Browsing(context.new_page())
    finally:
        context.close()


@pytest.fixture
def sign_in(browsing, shop):
    """Signs the browser in to the admin as the shop's staff admin."""
    return lambda: log_in(browsing.page, shop.admin.username, STAFF_PASSWORD)
