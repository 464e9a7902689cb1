"""Driving Debian's Chromium through the operator's pages (tests/browser): a page that records what it asks for
and never lets a request leave this machine, the admin's sign-in, and screenshots under var/screenshots/."""

from pathlib import Path
from urllib.parse import urlsplit

from tests.support.logs import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class Browsing:
    """One browser page on the server, recording every request it makes and every answer over 399."""

    def __init__(self, page):
        self.page = page
        self.requests: list[str] = []
        self.failures: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("response", lambda response: response.status >= 400 and self.failures.append(_said(response)))

    def outside(self) -> list[str]:
        return [url for url in self.requests if not is_local(url)]


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOCAL_HOSTS


def _said(response) -> str:
    return f"{response.status} {response.url}"


def stay_local(route) -> None:
    """A request for another host is recorded (the test fails on it) but never sent: this machine has no network."""
    if is_local(route.request.url):
        route.continue_()
    else:
        route.abort("blockedbyclient")


def log_in(page, username: str, password: str) -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
