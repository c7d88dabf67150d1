"""The compliance console in a real browser: Debian's headless Chromium driven by selenium against
the embedded stack (`make local`'s console at /console/), under the same CSP it is deployed with.

One browser session for the module (sign-in, sign-out and a second person happen inside it). The
walk: sign in through the local hosted UI (code + PKCE), file an access request, verify it, see the
filer refused as approver, approve as a second person, download the export (a Blob), file an
erasure and open its printable certificate, add a legal hold with its reason and lift it with
another, check the deadline countdown against the API, verify today's audit day, and run axe-core
on every screen. Throughout: the address bar never shows more than /console/, nothing lands in web storage or
cookies, and the browser reports no CSP violation.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from local.client import fetch_token, http
from tests.e2e.conftest import RunningStack
from tests.support import call_body

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: identifiers typed into the console: they must never reach a URL, storage or the console log
ACCESS_ID = "K-CONSOLE-ACCESS-77"
ERASURE_ID = "K-CONSOLE-ERASE-78"
HOLD_ID = "K-CONSOLE-HOLD-79"
WAIT = 60


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebDriver, Path]]:
    missing = "Debian's chromium and chromium-driver are missing: `make setup` installs them (as root)"
    assert Path(CHROMIUM).exists(), missing
    assert Path(CHROMEDRIVER).exists(), missing
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})  # fmt: skip
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_script_timeout(30)
    try:
        yield driver, downloads
    finally:
        driver.quit()


def _people(stack: RunningStack) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(stack.state_file.read_text())["people"].items()}


def _until(driver: WebDriver, check: Callable[[WebDriver], Any], seconds: float = WAIT) -> Any:
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,)).until(check)


def _css(driver: WebDriver, selector: str) -> Any:
    return _until(driver, lambda d: d.find_element(By.CSS_SELECTOR, selector))


def _assert_nothing_personal_kept(driver: WebDriver, stack: RunningStack) -> None:
    url = driver.current_url
    assert urllib.parse.urlsplit(url)._replace(fragment="").geturl() == f"{stack.api_url}/console/", url
    assert "#" not in url
    assert driver.execute_script("return window.localStorage.length + window.sessionStorage.length") == 0
    assert driver.get_cookies() == []


def sign_in(driver: WebDriver, stack: RunningStack, person: str = "") -> None:
    """The hosted UI in its pop-up: user name, password, optionally a distinct person (four-eyes)."""
    main = driver.current_window_handle
    _css(driver, "#sign-in").click()
    _until(driver, lambda d: len(d.window_handles) == 2)
    driver.switch_to.window(next(h for h in driver.window_handles if h != main))
    _css(driver, "#username").send_keys("compliance")
    driver.find_element(By.ID, "password").send_keys(_people(stack)["compliance"])
    if person:
        driver.find_element(By.ID, "person").send_keys(person)
    driver.find_element(By.ID, "submit").click()
    driver.switch_to.window(main)
    _until(driver, lambda d: len(d.window_handles) == 1)  # the pop-up closed itself after the code
    _css(driver, "#queue")
    assert (person or "compliance") in driver.find_element(By.ID, "who").text


def sign_out(driver: WebDriver, stack: RunningStack) -> None:
    driver.find_element(By.ID, "sign-out").click()
    _css(driver, "#sign-in")
    _assert_nothing_personal_kept(driver, stack)
    assert driver.find_element(By.ID, "nav").get_attribute("hidden") is not None


def open_request(driver: WebDriver, request_id: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "nav button[data-view=queue]").click()
    _css(driver, f"tr[data-request='{request_id}'] button").click()
    _css(driver, "#status")


def wait_status(driver: WebDriver, wanted: set[str]) -> str:
    """Refresh the request's page (as a person would) until its status is one of ``wanted``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status = str(_css(driver, "#status").get_attribute("data-status"))
        if status in wanted:
            return status
        time.sleep(0.5)
        _css(driver, "#refresh").click()
    raise TimeoutException(f"the request stayed {status}, wanted {sorted(wanted)}")


def file_request(driver: WebDriver, kind: str, customer_id: str) -> str:
    form = _css(driver, "#new-request")
    Select(form.find_element(By.NAME, "type")).select_by_value(kind)
    Select(form.find_element(By.NAME, "kind")).select_by_value("customer_id")
    form.find_element(By.NAME, "value").send_keys(customer_id)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    heading = _until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "main h1").text.split()[-1].startswith("pr-")
                     and d.find_element(By.CSS_SELECTOR, "main h1"))  # fmt: skip
    return str(heading.text.split()[-1])


def verify(driver: WebDriver) -> None:
    wait_status(driver, {"awaiting_verification"})
    form = _css(driver, "#verify")
    Select(form.find_element(By.NAME, "method")).select_by_value("id_document")
    form.find_element(By.NAME, "reference").send_keys("TICKET-2026-17")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _until(driver, lambda d: "id_document" not in d.page_source or d.find_elements(By.ID, "verify") == [])


def axe_clean(driver: WebDriver, screen: str) -> None:
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    serious = [v for v in results["violations"] if v.get("impact") in {"serious", "critical"}]
    assert serious == [], f"{screen}: " + "; ".join(f"{v['id']}: {v['help']}" for v in serious)


def _ingest(stack: RunningStack, call_id: str, customer_id: str) -> None:
    verification = {"identifiers": ["customer_id"], "method": "app_login"}
    body = call_body(call_id=call_id, caller={"customer_id": customer_id, "verification": verification})
    answer = http("POST", f"{stack.api_url}/v1/calls", body, fetch_token("platform", stack.state_file))
    assert answer.status == 202, answer.body


@pytest.fixture(scope="module")
def walk(stack: RunningStack, browser: tuple[WebDriver, Path]) -> dict[str, Any]:
    """Sign in, file and verify an access request, then the filer's own approval attempt."""
    driver, _ = browser
    _ingest(stack, "cc-console-access-1", ACCESS_ID)
    _ingest(stack, "cc-console-erase-1", ERASURE_ID)
    driver.get(f"{stack.api_url}/console/")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"  # German first
    sign_in(driver, stack)
    request_id = file_request(driver, "access", ACCESS_ID)
    _assert_nothing_personal_kept(driver, stack)
    verify(driver)
    wait_status(driver, {"awaiting_approval"})
    return {"access": request_id}


def test_the_filer_cannot_approve_a_second_person_can_and_the_export_downloads_as_a_blob(
    stack: RunningStack, browser: tuple[WebDriver, Path], walk: dict[str, Any]
) -> None:
    driver, downloads = browser
    _css(driver, "#approve").click()
    error = _until(driver, lambda d: d.find_element(By.ID, "error").is_displayed() and d.find_element(By.ID, "error"))
    assert "403" in error.text
    axe_clean(driver, "request page")
    sign_out(driver, stack)

    sign_in(driver, stack, person="approver-2")
    open_request(driver, walk["access"])
    _css(driver, "#approve").click()
    assert wait_status(driver, {"completed", "failed", "rejected"}) == "completed"
    assert "approver-2" in driver.find_element(By.ID, "approval-title").find_element(By.XPATH, "..").text
    _css(driver, "#download").click()
    target = downloads / f"{walk['access']}-export.json"
    _until(driver, lambda _d: target.exists() and target.stat().st_size > 0)
    export = json.loads(target.read_text())
    assert "cc-console-access-1" in json.dumps(export)  # the subject's call is in it
    # the download went through a Blob: no storage or API URL reached the address bar or history
    _assert_nothing_personal_kept(driver, stack)
    assert not list(downloads.glob("*.crdownload"))


def test_an_erasure_ends_with_a_printable_certificate(
    stack: RunningStack, browser: tuple[WebDriver, Path], walk: dict[str, Any]
) -> None:
    driver, _ = browser
    driver.find_element(By.CSS_SELECTOR, "nav button[data-view=queue]").click()
    request_id = file_request(driver, "erasure", ERASURE_ID)
    verify(driver)
    wait_status(driver, {"awaiting_approval"})
    sign_out(driver, stack)  # approver-2 filed and verified: the first person approves
    sign_in(driver, stack)
    open_request(driver, request_id)
    _css(driver, "#approve").click()
    assert wait_status(driver, {"completed", "failed", "rejected"}) == "completed"
    certificate = _css(driver, "#certificate")
    assert "Löschbescheinigung" in certificate.text
    assert request_id in certificate.text
    assert ERASURE_ID not in certificate.text
    assert certificate.find_elements(By.ID, "print")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert certificate.is_displayed()
        assert not driver.find_element(By.TAG_NAME, "header").is_displayed()
        assert not driver.find_element(By.ID, "print").is_displayed()
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    axe_clean(driver, "certificate")


def test_a_hold_is_added_with_a_reason_and_lifted_after_a_confirmation(
    stack: RunningStack, browser: tuple[WebDriver, Path], walk: dict[str, Any]
) -> None:
    driver, _ = browser
    driver.find_element(By.CSS_SELECTOR, "nav button[data-view=holds]").click()
    before = {
        r.get_attribute("data-hold") for r in _css(driver, "#holds").find_elements(By.CSS_SELECTOR, "tr[data-hold]")
    }
    form = _css(driver, "#new-hold")
    Select(form.find_element(By.NAME, "kind")).select_by_value("customer_id")
    form.find_element(By.NAME, "value").send_keys(HOLD_ID)
    form.find_element(By.NAME, "reason").send_keys("pending lawsuit, case 2026-17")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    row = _until(driver, lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "tr[data-hold]")
                                         if r.get_attribute("data-hold") not in before), None))  # fmt: skip
    hold_id = row.get_attribute("data-hold")
    assert "pending lawsuit" in row.text
    assert HOLD_ID not in row.text
    axe_clean(driver, "holds")
    row.find_element(By.CSS_SELECTOR, "button.lift").click()
    reason = _css(driver, f"tr[data-hold='{hold_id}'] input[name=lift_reason]")
    assert driver.switch_to.active_element == reason  # keyboard users land on the confirmation's reason
    confirm = _css(driver, f"tr[data-hold='{hold_id}'] button.confirm-lift")
    confirm.click()  # without a reason the browser refuses the form: the hold stays
    assert driver.find_elements(By.CSS_SELECTOR, f"tr[data-hold='{hold_id}']")
    axe_clean(driver, "hold lift")
    reason.send_keys("Verfahren beendet")
    confirm.click()
    _until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, f"tr[data-hold='{hold_id}']"))
    holds = http("GET", f"{stack.api_url}/v1/privacy/holds", None, fetch_token("compliance", stack.state_file))
    assert hold_id not in {h["hold_id"] for h in holds.body["items"]}
    _assert_nothing_personal_kept(driver, stack)


def test_the_queue_counts_down_to_each_deadline_and_filters(
    stack: RunningStack, browser: tuple[WebDriver, Path], walk: dict[str, Any]
) -> None:
    driver, _ = browser
    token = fetch_token("compliance", stack.state_file)
    now = datetime.now(UTC)
    filed = {}
    for days_ago in (25, 45):  # due in a few days, and overdue
        answer = http("POST", f"{stack.api_url}/v1/privacy/requests", {
            "type": "objection", "subject": {"customer_id": f"K-CONSOLE-DUE-{days_ago}"},
            "received_at": (now - timedelta(days=days_ago)).isoformat()}, token)  # fmt: skip
        assert answer.status == 202, answer.body
        filed[days_ago] = answer.body["request_id"]
    driver.find_element(By.CSS_SELECTOR, "nav button[data-view=queue]").click()
    form = _css(driver, "form.filters")
    Select(form.find_element(By.NAME, "type")).select_by_value("objection")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    listed = http("GET", f"{stack.api_url}/v1/privacy/requests?type=objection&limit=100", None, token).body["items"]
    days = {i["request_id"]: i["days_left"] for i in listed}
    checked = 0
    for request_id in filed.values():
        row = _css(driver, f"tr[data-request='{request_id}']")
        left = days[request_id]
        text = row.find_elements(By.TAG_NAME, "td")[4].text
        if row.find_elements(By.TAG_NAME, "td")[2].text in {"abgeschlossen", "abgelehnt", "fehlgeschlagen"}:
            continue  # a closed request shows no countdown
        expected = (
            f"{-left} Tage überfällig" if left < -1 else ("1 Tag überfällig" if left == -1 else f"noch {left} Tage")
        )
        assert text == expected, (request_id, left, text)
        checked += 1
    assert checked, "every filed request was closed: no countdown was compared"
    rows = driver.find_elements(By.CSS_SELECTOR, "#queue tr[data-request]")
    assert rows
    assert all("Widerspruch" in r.text for r in rows)
    axe_clean(driver, "queue")
    driver.find_element(By.ID, "lang").click()
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert driver.find_element(By.CSS_SELECTOR, "nav button[data-view=queue]").text == "Requests"
    driver.find_element(By.ID, "lang").click()
    _assert_nothing_personal_kept(driver, stack)


def test_the_audit_day_verifies_and_nothing_leaked_to_the_browser_log(
    stack: RunningStack, browser: tuple[WebDriver, Path], walk: dict[str, Any]
) -> None:
    driver, _ = browser
    driver.find_element(By.CSS_SELECTOR, "nav button[data-view=audit]").click()
    _css(driver, "#audit button[type=submit]").click()
    verdict = _css(driver, "#audit-result [data-intact]")
    assert verdict.get_attribute("data-intact") == "true"
    axe_clean(driver, "audit")
    log = driver.get_log("browser")
    text = json.dumps(log)
    assert "Content Security Policy" not in text, text[-2000:]
    for planted in (ACCESS_ID, ERASURE_ID, HOLD_ID):
        assert planted not in text
    sign_out(driver, stack)
    # after sign-out no screen of the console is reachable without signing in again
    assert not driver.find_elements(By.CSS_SELECTOR, "#queue, #holds, #audit")
