"""The live dashboard in a real browser (Debian's chromium driven by Playwright)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ..browser import browser_test, screenshot
from ..conftest import make_user

pytestmark = browser_test


def log_in(browser, live, username: str, password: str):
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.goto(f"{live.url}/dashboard/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("form [type=submit]").click()
    page.wait_for_url(f"{live.url}/dashboard/")
    expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
    return page


@pytest.fixture
def carol(transactional_db):
    # Created before the browser starts: Playwright's sync API runs an event loop in this thread,
    # and Django refuses ORM calls from there.
    return make_user("carol")


def test_dashboard_shows_a_job_move_live_in_two_browsers(live, carol, browser):
    from playwright.sync_api import expect

    first = log_in(browser, live, "carol", "pw-carol")
    second = log_in(browser, live, "carol", "pw-carol")
    first.evaluate("window.notReloaded = true")

    first.fill("#sleep-form [name=seconds]", "3")
    first.fill("#sleep-form [name=steps]", "6")
    first.locator("#sleep-form button").click()

    for page in (first, second):
        row = page.locator("#jobs tr").first
        # A value strictly between 0 and 100 proves the bar moved while the job ran.
        page.wait_for_function(
            "() => { const p = parseInt(document.querySelector('#jobs tr .pct')?.textContent); return p > 0 && p < 100; }",
            timeout=20_000,
        )
    for page in (first, second):
        row = page.locator("#jobs tr").first
        expect(row.locator(".badge")).to_have_text("completed", timeout=30_000)
        expect(row.locator(".pct")).to_have_text("100 %")
    assert first.evaluate("window.notReloaded") is True

    screenshot(first, "dashboard.png")


def test_dashboard_starts_a_report_and_offers_the_download(live, carol, browser):
    from playwright.sync_api import expect

    page = log_in(browser, live, "carol", "pw-carol")
    page.fill("#report-form [name=start_date]", "2026-01-01")
    page.fill("#report-form [name=end_date]", "2026-12-31")
    page.locator("#report-form button").click()

    row = page.locator("#jobs tr").first
    expect(row.locator(".type")).to_have_text("reports.generate", timeout=15_000)
    expect(row.locator(".badge")).to_have_text("completed", timeout=30_000)
    with page.expect_download() as download:
        row.locator("a.download").click()
    assert download.value.suggested_filename == "report-2026-01-01-2026-12-31.csv"
    assert Path(download.value.path()).read_text().startswith("date,type,total")


def test_dashboard_requires_login(live, browser):
    page = browser.new_page()
    page.goto(f"{live.url}/dashboard/")
    assert "/api-auth/login/" in page.url
