"""The dead-letter console in a real browser (Debian's chromium driven by Playwright): an operator
finds a failed job by error type, reads why it failed, replays it (as it was, or with edited input)
and watches it complete.

Jobs are submitted and driven to `failed` through the API and the real worker in fixtures, before
the browser starts; inside the tests the database is read only over HTTP (see tests/browser.py).
"""
from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest
import requests
from rest_framework.authtoken.models import Token

from ..browser import browser_test, screenshot

pytestmark = browser_test

PERMANENT = "jobs.errors.PermanentError"
TRANSIENT = "jobs.errors.TransientError"


def label(value: str) -> re.Pattern:
    """A status or outcome as the admin shows it (the choice's label, e.g. "Failed")."""
    return re.compile(rf"^\s*{value}\s*$", re.I)


class Api:
    """The public API as the job's owner uses it, with a token, over the live server."""

    def __init__(self, live, user):
        self.url = live.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"

    def submit(self, **input) -> str:
        response = self.session.post(f"{self.url}/api/jobs/", json={"type": "diagnostics.sleep", "input": input}, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def wait_until(self, job_id: str, status: str, timeout: float = 60.0) -> dict:
        return poll(lambda: self.session.get(f"{self.url}/api/jobs/{job_id}", timeout=10).json(), status, timeout)


def poll(get_job, status: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = get_job()
        if job["status"] == status:
            return job
        assert job["status"] not in {"completed", "failed", "cancelled"}, f"expected {status}: {job}"
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job['id']} is {job['status']}, not {status}, after {timeout}s")
        time.sleep(0.2)


def api_job(page, live, job_id: str) -> dict:
    """The job as the API shows it to the operator's browser session."""
    response = page.request.get(f"{live.url}/api/jobs/{job_id}")
    assert response.ok, response.status
    return response.json()


@pytest.fixture
def dead_letters(live, user, staff_user):
    """Two jobs failed on a permanent error and one that used up its attempts on transient errors."""
    api = Api(live, user)
    permanent = [api.submit(seconds=0, fail_attempts=1, error="permanent") for _ in range(2)]
    # Four waits of equal jitter (0.5-1, 1-2, 2-4, 4-8 s): up to 15 s.
    transient = api.submit(seconds=0, fail_attempts=5, error="transient")
    for job_id in permanent:
        failed = api.wait_until(job_id, "failed")
        assert failed["error"]["type"] == PERMANENT and failed["attempts"] == 1
    failed = api.wait_until(transient, "failed", timeout=60)
    assert failed["error"]["type"] == TRANSIENT and failed["attempts"] == 5
    return SimpleNamespace(permanent=permanent, transient=transient)


@pytest.fixture
def dead_letter(live, user, staff_user):
    api = Api(live, user)
    job_id = api.submit(seconds=0, fail_attempts=3, error="permanent")
    api.wait_until(job_id, "failed")
    return job_id


def admin_log_in(browser, live):
    page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
    page.goto(f"{live.url}/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", "pw-operator")
    page.locator("form [type=submit]").click()
    page.wait_for_url(f"{live.url}/admin/")
    assert page.request.get(f"{live.url}/static/admin/css/base.css").ok
    return page


def error_counts(page) -> dict[str, int]:
    rows = page.locator("#error-counts tbody tr")
    return {rows.nth(i).locator("td").nth(0).inner_text(): int(rows.nth(i).locator("td").nth(1).inner_text())
            for i in range(rows.count())}


def listed_ids(page) -> list[str]:
    return page.locator("#result_list tbody th.field-id a").all_inner_texts()


def test_operator_finds_reads_and_replays_a_dead_letter(live, dead_letters, browser):
    from playwright.sync_api import expect

    page = admin_log_in(browser, live)
    page.get_by_role("link", name=re.compile("^Dead letters", re.I)).click()
    expect(page.locator("#error-counts")).to_be_visible()
    assert error_counts(page) == {PERMANENT: 2, TRANSIENT: 1}
    assert sorted(listed_ids(page)) == sorted([*dead_letters.permanent, dead_letters.transient])

    # Filter by error type from the counts table.
    page.locator("#error-counts").get_by_role("link", name=PERMANENT).click()
    page.wait_for_url(re.compile(r"error_type=jobs\.errors\.PermanentError"))
    assert sorted(listed_ids(page)) == sorted(dead_letters.permanent)
    expect(page.locator("#result_list td.field-error_type")).to_have_text([PERMANENT, PERMANENT])
    screenshot(page, "dead_letters.png")

    # Read why it failed: the error, the traceback and the attempts.
    job_id = dead_letters.permanent[0]
    page.locator("#result_list").get_by_role("link", name=job_id, exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/jobs/deadletter/{job_id}/change/"))
    expect(page.locator(".field-status .readonly")).to_have_text(label("failed"))
    expect(page.locator(".field-error_type .readonly")).to_have_text(PERMANENT)
    expect(page.locator(".field-error_message .readonly")).to_have_text(
        "diagnostics.sleep failed on purpose on attempt 1 of 1")
    traceback = page.locator(".field-last_traceback pre")
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("PermanentError: diagnostics.sleep failed on purpose")
    attempts = page.locator("#attempt_rows-group tbody tr.has_original")
    expect(attempts).to_have_count(1)
    expect(attempts.locator("td.field-number")).to_have_text("1")
    expect(attempts.locator("td.field-outcome")).to_have_text(label("failed"))
    expect(attempts.locator("td.field-error_type")).to_have_text(PERMANENT)
    expect(page.locator("[name=_save]")).to_have_count(0)  # view-only: jobs change only by replay, cancel, discard
    screenshot(page, "dead_letter_detail.png")

    # Replay it and watch it complete.
    page.get_by_role("button", name="Replay now").click()
    page.wait_for_url(re.compile(rf"/admin/jobs/job/{job_id}/change/"))
    expect(page.locator(".messagelist .success")).to_have_text(f"Job {job_id} replayed.")
    done = poll(lambda: api_job(page, live, job_id), "completed", timeout=30)
    assert done["attempts"] == 2 and done["output"]["attempt"] == 2 and done["error"] is None
    page.reload()
    expect(page.locator(".field-status .readonly")).to_have_text(label("completed"))
    expect(page.locator("#attempt_rows-group td.field-outcome")).to_have_text([label("failed"), label("completed")])

    # It left the dead letters; the others stay.
    page.goto(f"{live.url}/admin/jobs/deadletter/")
    assert sorted(listed_ids(page)) == sorted([dead_letters.permanent[1], dead_letters.transient])
    assert error_counts(page) == {PERMANENT: 1, TRANSIENT: 1}


def test_operator_replays_with_edited_input_after_a_validation_error(live, dead_letter, browser):
    from playwright.sync_api import expect

    job_id = dead_letter
    page = admin_log_in(browser, live)
    page.goto(f"{live.url}/admin/jobs/deadletter/{job_id}/change/")
    page.get_by_role("link", name="Replay with edited input").click()
    page.wait_for_url(re.compile(rf"/admin/jobs/deadletter/{job_id}/replay-with-input/"))
    expect(page.locator("#content")).to_contain_text(f"Failed with {PERMANENT}")
    assert '"fail_attempts": 3' in page.locator("#id_input").input_value()

    # Input the job type's schema refuses: shown on the page, nothing replayed.
    page.fill("#id_input", '{"seconds": "soon"}')
    page.get_by_role("button", name="Validate and replay").click()
    expect(page.locator("ul.errorlist")).to_contain_text("seconds:")
    assert "/replay-with-input/" in page.url
    assert page.locator("#id_input").input_value() == '{"seconds": "soon"}'
    assert api_job(page, live, job_id)["status"] == "failed"

    page.fill("#id_input", "{not json")
    page.get_by_role("button", name="Validate and replay").click()
    expect(page.locator("ul.errorlist")).to_contain_text("Not valid JSON")

    # Valid input: replayed with it, and it completes.
    page.fill("#id_input", '{"seconds": 0, "steps": 2}')
    page.get_by_role("button", name="Validate and replay").click()
    page.wait_for_url(re.compile(rf"/admin/jobs/job/{job_id}/change/"))
    expect(page.locator(".messagelist .success")).to_contain_text("replayed with the edited input")
    done = poll(lambda: api_job(page, live, job_id), "completed", timeout=30)
    assert done["input"]["steps"] == 2 and done["input"]["fail_attempts"] == 0
    assert done["output"] == {"slept_seconds": 0.0, "steps": 2, "attempt": 2}
    page.reload()
    expect(page.locator(".field-status .readonly")).to_have_text(label("completed"))
    page.goto(f"{live.url}/admin/jobs/deadletter/")
    assert job_id not in listed_ids(page)
