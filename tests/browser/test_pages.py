"""The operator's pages in a real browser (Debian's Chromium), served by gunicorn as `make run` serves them: each
has its stylesheet applied and fetches nothing from outside this machine (no CDN: it works offline).

Screenshots land in var/screenshots/, one per page.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser]


@dataclass(frozen=True)
class View:
    name: str
    path: str  # formatted with the shop's rows
    styled: str  # a selector whose computed style only the page's stylesheet gives
    prop: str
    expected: str
    staff: bool = True


ADMIN_HEADER = ("#header", "background-color", "rgb(65, 118, 144)")  # the admin's --header-bg, #417690
VIEWS = [
    View("landing", "/", ".masthead", "background-color", "rgb(65, 118, 144)", staff=False),
    View("api-docs", "/api/v1/docs", ".swagger-ui .info .title", "color", "rgb(59, 65, 81)", staff=False),
    View("admin-index", "/admin/", *ADMIN_HEADER),
    View("review-queue", "/admin/ticket/ticketreviewqueue/", *ADMIN_HEADER),
    View("ticket", "/admin/ticket/ticket/{shop.running.pk}/change/", *ADMIN_HEADER),
    View("command-browser", "/admin/commands/command/", *ADMIN_HEADER),
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_the_page_is_styled_and_fetches_nothing_from_outside(browsing, sign_in, shop, view):
    page = browsing.page
    if view.staff:
        sign_in()
    page.goto(view.path.format(shop=shop))
    page.wait_for_load_state("networkidle")
    assert browsing.outside() == [], f"{view.name} asked for something outside this machine"
    page.wait_for_selector(view.styled, timeout=15_000)  # Swagger UI renders once it has fetched the schema
    screenshot(page, view.name)

    style = page.eval_on_selector(view.styled, "(el, prop) => getComputedStyle(el).getPropertyValue(prop)", view.prop)
    assert style == view.expected, f"{view.styled} {view.prop} is {style!r}: the stylesheet was not applied"
    assert browsing.failures == [], f"{view.name} met errors: {browsing.failures}"
    stylesheets = [url for url in browsing.requests if urlsplit(url).path.endswith(".css")]
    assert stylesheets, f"{view.name} loaded no stylesheet"


def test_the_ticket_page_shows_a_running_session_s_live_active_time(browsing, sign_in, shop):
    """The stored figure counts up to the session's latest event (its start: 0:00:00); the live one up to now."""
    page = browsing.page
    sign_in()
    page.goto(f"/admin/ticket/ticket/{shop.running.pk}/change/")

    row = page.locator("#work_sessions-group tbody tr.has_original")
    assert row.locator("td.field-status").inner_text().strip() == "Running"
    assert row.locator("td.field-active_time").inner_text().strip() == "0:00:00"
    hours, minutes, seconds = (int(part) for part in row.locator("td.field-live_active_time").inner_text().split(":"))
    assert hours * 3600 + minutes * 60 + seconds > 24 * 3600  # the shop's clock started it days ago
