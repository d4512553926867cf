"""What a paralegal and an operator do from the console, on the seeded demo firm: create a case,
mark documents received and rejected, review then schedule and send reminders, make an upload
link, close the case; see why messages wait; change the firm's time zone; and reach every
navigation entry on a phone."""

import datetime
import time
import zoneinfo

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from conftest import PHONE
from console import Console


def tenant_zone(server):
    status, tenant = server.api("GET", "/v1/tenant")
    assert status == 200, tenant
    return zoneinfo.ZoneInfo(tenant["time_zone"])


def local_input(moment):
    """The value a datetime-local input takes."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def set_input(c, css, value):
    el = c.find(css)
    c.d.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))", el, value)


def doc_status(c, name):
    """The document's status as shown, read in one script (the rows are redrawn after each change)."""
    return c.d.execute_script("""
        for (const row of document.querySelectorAll('.doc-row'))
            if (row.querySelector('strong').textContent === arguments[0]) return row.dataset.status;
        return null;""", name)


def doc_row(c, name):
    for row in c.find_all(".doc-row"):
        if row.find_element(By.CSS_SELECTOR, "strong").text == name:
            return row
    raise AssertionError(f"no document row {name}")


def test_a_paralegal_works_a_case_from_the_console(server, browser, legal):
    c = Console(browser.new(), server).sign_in()
    c.go("cases")
    c.wait_css("#new-case").click()
    c.wait_css("#case-client-name").send_keys("Siobhan O'Brien")
    c.find("#case-client-email").send_keys("siobhan.obrien")
    c.find("#case-client-phone").send_keys("+1 555-301-4477")
    # A case type fills in the usual documents.
    c.find("#case-type").find_element(By.CSS_SELECTOR, "option[value=tax]").click()
    assert "W2" in c.find("#case-documents").get_attribute("value")
    set_input(c, "#case-documents", "W2\nPhoto ID\n2023 tax return")
    c.find(".case-form button[type=submit]").click()
    # The API's error lands under the field it names, in words.
    error = c.wait_css("#case-client-email-error")
    assert "email" in error.text.lower() and "_" not in error.text
    assert c.find("#case-client-email").get_attribute("aria-invalid") == "true"
    c.shot("40-case-new-error")
    c.find("#case-client-email").send_keys("@example.com")
    c.find(".case-form button[type=submit]").click()
    c.wait.until(lambda d: "Siobhan O'Brien" in c.find(".page-header h1").text)
    case_id = c.d.current_url.rsplit("/", 1)[-1]

    # Documents: one received, one rejected with a reason (a reason is required).
    doc_row(c, "W2").find_element(By.XPATH, ".//button[normalize-space()='Mark received']").click()
    c.wait.until(lambda d: doc_status(c, "W2") == "received")
    row = doc_row(c, "Photo ID")
    row.find_element(By.XPATH, ".//button[normalize-space()='Reject…']").click()
    row.find_element(By.XPATH, ".//button[normalize-space()='Reject document']").click()
    assert "reason" in row.find_element(By.CSS_SELECTOR, ".field-error").text.lower()
    row.find_element(By.CSS_SELECTOR, ".doc-reason").send_keys("The scan is unreadable")
    row.find_element(By.XPATH, ".//button[normalize-space()='Reject document']").click()
    c.wait.until(lambda d: doc_status(c, "Photo ID") == "rejected")
    assert "The scan is unreadable" in doc_row(c, "Photo ID").text
    c.shot("41-case-documents")

    # A follow-up scheduled for tomorrow afternoon: reviewed first, exactly as it will be sent.
    c.find("#reminder-type").find_element(By.CSS_SELECTOR, "option[value=follow_up_reminder]").click()
    c.find("#reminder-later").click()
    c.find("#reminder-review").click()
    assert "date and time" in c.wait_css("#reminder-at-error").text
    tomorrow = datetime.datetime.now(tenant_zone(server)).replace(hour=14, minute=30) + datetime.timedelta(days=1)
    set_input(c, "#reminder-at", local_input(tomorrow))
    c.find("#reminder-review").click()
    confirm = c.wait_css(".confirm")
    assert "Nothing has been sent yet" in confirm.text
    assert "siobhan.obrien@example.com" in confirm.text
    # Formatted, as the client's mail program shows it, and as plain text on request.
    html = c.find(".confirm .mail-frame").get_attribute("srcdoc")
    assert "Photo ID" in html and "2023 tax return" in html and "/upload/" in html
    c.d.execute_script("document.querySelector('.confirm').scrollIntoView()")
    c.shot("42-case-reminder-confirm")
    c.find(".confirm .mail-actions button").click()
    body = c.wait_css(".confirm-body").text
    assert "Photo ID" in body and "2023 tax return" in body and "/upload/" in body
    assert "approve it by sending" in confirm.text
    before = server.api("GET", f"/v1/cases/{case_id}")[1]
    assert before["communications"] == [], "nothing is sent before approval"
    c.find("#reminder-send").click()
    c.wait_text(".sent-summary", "Scheduled: it goes out at 14:30")
    assert "Approved by" in c.find(".sent-summary").text
    c.shot("43-case-reminder-scheduled")

    # An initial reminder now.
    c.wait.until(lambda d: c.find_all("#reminder-type") and c.find("#reminder-type").is_displayed())
    c.find("#reminder-type").find_element(By.CSS_SELECTOR, "option[value=initial_reminder]").click()
    c.find("#reminder-review").click()
    c.wait_css("#reminder-send")
    assert c.find("#reminder-send").text == "Approve and send"
    c.find("#reminder-send").click()
    c.wait_css(".sent-summary")
    detail = None
    for _ in range(100):
        detail = server.api("GET", f"/v1/cases/{case_id}")[1]
        if len(detail["communications"]) == 2:
            break
        time.sleep(0.1)
    kinds = sorted(m["email_type"] for m in detail["communications"])
    assert kinds == ["follow_up_reminder", "initial_reminder"], detail["communications"]
    scheduled = next(m for m in detail["communications"] if m["email_type"] == "follow_up_reminder")
    status, message = server.api("GET", f"/v1/messages/{scheduled['message_id']}")
    assert message["waiting_reason"] == "scheduled", message
    docs = {d["document_name"]: d for d in detail["requested_documents"]}
    assert docs["W2"]["status"] == "received"
    assert docs["Photo ID"]["status"] == "rejected" and docs["Photo ID"]["notes"] == "The scan is unreadable"

    # An upload link, copied.
    c.wait_css("#upload-link-create").click()
    url = c.wait_css("#upload-link-url").get_attribute("value")
    assert url.startswith(server.url + "/upload/")
    c.find("#upload-link-copy").click()
    c.wait.until(lambda d: "copied" in c.find("#toasts").text.lower() or "copy it" in c.find("#toasts").text.lower())
    c.shot("44-case-upload-link")

    # Closed, after a confirmation; the actions go away.
    c.find("#case-close").click()
    c.wait_css("#case-close-confirm").click()
    c.wait.until(lambda d: "closed" in c.find(".page-header .badge").text.lower())
    assert not c.find_all("#reminder-review") and not c.find_all("#case-close")
    assert server.api("GET", f"/v1/cases/{case_id}")[1]["status"] == "CLOSED"
    c.shot("45-case-closed")


def test_jobs_and_messages_say_why_they_wait(server, browser):
    zone = tenant_zone(server)
    now = datetime.datetime.now(zone)
    late = now.replace(hour=23, minute=0, second=0, microsecond=0)
    if late <= now:
        late += datetime.timedelta(days=1)
    noon = (now + datetime.timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    stamp = time.time()
    status, held = server.api("POST", "/v1/messages", {"channel": "sms", "to": "+14155550142", "text": "Late",
                                                       "send_at": late.isoformat(), "idempotency_key": f"wait-late-{stamp}"})
    assert status == 202, held
    status, later = server.api("POST", "/v1/messages", {"channel": "sms", "to": "+14155550143", "text": "Noon",
                                                        "send_at": noon.isoformat(), "idempotency_key": f"wait-noon-{stamp}"})
    assert status == 202, later
    c = Console(browser.new(), server).sign_in()
    c.go(f"messages/{held['message_id']}")
    c.wait_css(".waiting")
    assert "Held by quiet hours: it goes out at 08:00" in c.find(".waiting").text
    c.shot("46-message-quiet-hours")
    c.go(f"messages/{later['message_id']}")
    c.wait_text(".waiting", "Scheduled: it goes out at 12:00")
    c.go("jobs")
    c.wait.until(lambda d: c.find_all(".results .data tbody tr"))
    reasons = {td.get_attribute("data-reason") for td in c.find_all("td.waiting")}
    assert {"quiet_hours", "scheduled"} <= reasons, reasons
    c.shot("47-jobs-waiting")


def test_an_admin_changes_the_time_zone_in_settings(server, browser):
    status, original = server.api("GET", "/v1/tenant")
    try:
        c = Console(browser.new(), server).sign_in()
        c.go("settings")
        zone = c.wait_css("#tenant-zone")
        zone.clear()
        zone.send_keys("Mars/Olympus_Mons")
        c.find("#tenant-save").click()
        error = c.wait_css("#tenant-zone-error")
        assert "IANA" in error.text and "America/Chicago" in error.text
        c.shot("48-settings-error")
        zone.clear()
        zone.send_keys("America/Chicago")
        name = c.find("#tenant-name")
        name.clear()
        name.send_keys("O'Brien & Partners")
        c.find("#tenant-save").click()
        c.wait_text("#toasts", "Saved")
        c.wait_text(".topbar .tenant-name", "O'Brien & Partners")
        status, tenant = server.api("GET", "/v1/tenant")
        assert tenant["time_zone"] == "America/Chicago" and tenant["name"] == "O'Brien & Partners", tenant
        c.wait_text(".main", "Recurring tasks (times in America/Chicago)")
        # The daily legal reminder's next run is at its local time in Chicago now.
        status, schedules = server.api("GET", "/v1/schedules")
        chicago = zoneinfo.ZoneInfo("America/Chicago")
        for task in schedules["data"]:
            if task["schedule"].get("kind") == "daily":
                at = datetime.datetime.fromisoformat(task["next_run_at"].replace("Z", "+00:00")).astimezone(chicago)
                assert at.strftime("%H:%M") == task["schedule"]["at"], task
        c.shot("49-settings-saved")
    finally:
        server.api("PATCH", "/v1/tenant", {"name": original["name"], "time_zone": original["time_zone"]})


def test_every_navigation_entry_is_reachable_on_a_phone(server, browser):
    c = Console(browser.new(PHONE), server).sign_in()
    routes = [a.get_attribute("data-route") for a in c.find_all(".nav a")]
    assert routes == ["chat", "handoffs", "agents", "workflows", "jobs", "outbox", "templates", "cases", "knowledge", "users", "settings"]
    for route in routes:
        link = c.find(f".nav a[data-route={route}]")
        rect = c.d.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]", link)
        assert rect[0] >= 0 and rect[1] <= PHONE[0], f"{route} is outside the screen: {rect}"
        link.click()
        c.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f".main.view-{route}")))
        assert link.get_attribute("aria-current") == "page"
        width = c.d.execute_script("return document.documentElement.scrollWidth")
        assert width <= PHONE[0] + 1, f"{route} scrolls sideways ({width}px)"
    c.shot("24-phone-navigation")


def test_a_viewer_reads_cases_and_settings_without_the_actions(server, browser, legal):
    status, key = server.api("POST", "/v1/api-keys", {"name": "auditor", "role": "viewer"})
    assert status == 201, key
    status, page = server.api("GET", "/v1/cases?status=OPEN&limit=1")
    case_id = page["data"][0]["case_id"]
    c = Console(browser.new(), server).sign_in(key["secret"])
    c.go("cases")
    c.wait.until(lambda d: c.find_all(".results table"))
    assert not c.find_all("#new-case")
    c.go(f"cases/{case_id}")
    c.wait_css(".doc-row")
    assert not c.find_all("#reminder-review, #case-close, #upload-link-create, .doc-actions button")
    c.go("settings")
    assert c.wait_css("#tenant-zone").get_attribute("disabled") is not None
    assert "Only an admin" in c.find(".settings-form").text
