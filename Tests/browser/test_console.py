"""The console end to end in Chromium: sign-in, chat with the live timeline and approvals,
workflow detail, safe rendering, the outbox, and screenshots of every main view."""

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from conftest import ADMIN_KEY, PHONE
from console import Console


def test_keyboard_only_sign_in_and_sign_out(server, browser):
    c = Console(browser.new(), server).open()
    c.wait_css("#api-key")
    c.shot("01-sign-in")
    # The key field has focus on load; type and press Enter, nothing else.
    active = c.d.switch_to.active_element
    assert active.get_attribute("id") == "api-key"
    active.send_keys("prk_wrong_key_wrong_key_wrong_key_wrong_key", Keys.ENTER)
    c.wait_css("#signin-error")
    assert "not valid" in c.find("#signin-error").text
    c.shot("02-sign-in-error")
    active = c.d.switch_to.active_element
    assert active.get_attribute("id") == "api-key"
    active.send_keys(Keys.CONTROL, "a")
    active.send_keys(ADMIN_KEY, Keys.ENTER)
    c.wait_signed_in()
    assert c.find(".tenant-name").text == "Default"
    assert c.find(".role").text.lower() == "admin"
    # The cookie is HttpOnly: scripts cannot read it.
    assert "parley_session" not in c.d.execute_script("return document.cookie")
    c.wait_css(".chat-log .state-empty")
    c.shot("03-chat-empty")
    # Reloading keeps the session.
    c.d.refresh()
    c.wait_signed_in()
    c.find(".account button").click()
    c.wait_css("#api-key")
    assert "signed out" in c.find("#signin-error").text


def test_one_time_link_signs_in_once(server, browser):
    link = server.signin_link
    assert link and "#signin=" in link, server.lines
    c = Console(browser.new(), server)
    c.d.get(link)
    c.wait_signed_in()
    assert "#signin" not in c.d.current_url
    assert c.find(".role").text.lower() == "admin"
    again = Console(browser.new(), server)
    again.d.get(link)
    again.wait_css("#signin-error")
    assert "not valid" in again.find("#signin-error").text


def test_account_overview_streams_tool_steps_and_the_answer(server, browser):
    c = Console(browser.new(), server).sign_in()
    c.send("give me an account overview")
    answer = c.wait_answer()
    kinds = c.timeline_kinds()
    assert kinds[0] == "start" and kinds[-1] == "done", kinds
    assert kinds.count("step") >= 3, kinds
    steps = c.find_all(".chat-timeline .tl-step")
    assert all("success" in s.find_element(By.CSS_SELECTOR, ".tl-status").text for s in steps)
    assert all(s.find_element(By.CSS_SELECTOR, ".tl-duration").text.endswith(("ms", "s")) for s in steps)
    # Tool input and output are collapsed JSON.
    first = steps[0].find_elements(By.CSS_SELECTOR, "details")
    assert first and first[-1].get_attribute("open") is None
    first[-1].find_element(By.TAG_NAME, "summary").click()
    assert first[-1].get_attribute("open") is not None
    assert answer.strip()
    assert c.find(".session-item[aria-current=true]").text.startswith("give me an account overview")
    c.shot("04-chat-overview")


def test_approving_a_pending_step_completes_the_run(server, browser):
    status, key = server.api("POST", "/v1/api-keys", {"name": "ci-bot", "role": "service"})
    assert status == 201, key
    c = Console(browser.new(), server).sign_in()
    c.send("revoke the api key named ci-bot")
    c.wait_css(".tl-approval .btn-primary")
    assert "Waiting for approval" in c.find(".banner").text
    c.shot("05-chat-approval")
    c.approve_pending("Approve")
    answer = c.wait_answer()
    assert "tl-done" in c.find_all(".chat-timeline .tl-item")[-1].get_attribute("class")
    assert "revoked" in answer.lower()
    _, keys = server.api("GET", "/v1/api-keys?include_deleted=true")
    assert [k for k in keys["data"] if k["id"] == key["id"]][0].get("revoked_at")
    c.shot("06-chat-approved")


def test_html_in_messages_is_shown_as_text(server, browser):
    c = Console(browser.new(), server).sign_in()
    payload = "<img src=x onerror=alert(1)> **bold** [x](javascript:alert(2))"
    c.send(payload)
    c.wait_answer()
    user = c.find_all(".bubble-user")[-1]
    assert user.find_element(By.CSS_SELECTOR, ".bubble-body").text == payload
    assert c.find_all(".chat-log img") == []
    assert c.find_all(".chat-log a[href^='javascript']") == []
    assert c.no_alert()
    # The stored conversation renders the same way after a reload.
    c.d.refresh()
    c.wait_signed_in()
    c.wait.until(lambda d: c.find_all(".bubble-user"))
    assert c.find_all(".chat-log img") == []
    assert c.no_alert()
    c.shot("07-chat-html-as-text")


def test_workflows_list_and_detail(server, browser):
    c = Console(browser.new(), server).sign_in()
    c.send("give me an account overview")
    c.wait_answer()
    c.go("workflows")
    c.wait_css(".data tbody tr")
    c.shot("08-workflows")
    c.find(".data tbody tr a").click()
    c.wait_text(".main", "Reasoning chain")
    c.wait_css(".chain-step")
    text = c.find(".main").text.lower()
    assert "input tokens" in text and "output tokens" in text
    assert "null" not in text.split("\n"), "an empty value was rendered as 'null'"
    assert c.find_all(".card .timeline .tl-done")
    c.shot("09-workflow-detail")
    # Filtering by a status with no runs shows the empty state.
    c.go("workflows")
    c.wait_css("#wf-status")
    from selenium.webdriver.support.ui import Select
    Select(c.find("#wf-status")).select_by_value("CANCELLED")
    c.find(".filters button[type=submit]").click()
    c.wait_css(".results .state-empty")


def test_outbox_shows_a_queued_message(server, browser):
    # Exempt from quiet hours, so it is delivered whatever the time of day.
    status, body = server.api("PUT", "/v1/templates/console_notice", {
        "channel": "email", "purpose": "transactional", "subject": "Your documents for {{matter}}",
        "text": "Dear {{name}},\n\nWe have received your documents for {{matter}}.\n\nKind regards,\nSmith & Partners",
        "required_variables": ["name", "matter"], "exempt_from_quiet_hours": True})
    assert status == 200, body
    status, msg = server.api("POST", "/v1/messages", {
        "channel": "email", "to": "ada.lovelace@example.com", "template": "console_notice",
        "variables": {"name": "Ada Lovelace", "matter": "the Lovelace estate"}, "idempotency_key": f"browser-{time.time()}"})
    assert status in (200, 201, 202), msg
    c = Console(browser.new(), server).sign_in()
    c.go("outbox")
    entry = c.wait_css(f".mail[data-message-id='{msg['message_id']}']")
    assert "Your documents for the Lovelace estate" in entry.text
    assert "Dear Ada Lovelace" in entry.text
    c.shot("10-outbox")
    entry.find_element(By.LINK_TEXT, "Message details").click()
    c.wait_text(".main", "ada.lovelace@example.com")
    c.shot("11-message")


def test_operator_views_render(server, browser):
    c = Console(browser.new(), server).sign_in()
    c.go("jobs")
    c.wait.until(lambda d: c.find_all(".results .data tbody tr, .results .state-empty"))
    c.shot("12-jobs")
    c.go("templates/console_notice")
    c.wait_css("#tpl-text")
    c.wait_css(".preview .message-text")
    c.find("#tpl-text").send_keys(Keys.END, " Edited.")
    c.wait_text(".preview", "Edited.")
    c.wait_css(".version-list li")
    c.shot("13-templates")
    # AI personalisation: ticked with guidance, saved as a new version the API reports.
    assert not c.find("#tpl-personalize").is_selected()
    c.find("#tpl-personalize").click()
    c.find("#tpl-guidance").send_keys("Warm, and mention the estate by name.")
    c.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", c.find("#tpl-guidance"))
    c.shot("13-templates-personalize")
    c.find(".template-editor form button[type=submit]").click()
    c.wait_text("#toasts", "Saved version")
    status, saved = server.api("GET", "/v1/templates/console_notice")
    assert status == 200 and saved["personalize"] is True, saved
    assert saved["personalization_prompt"] == "Warm, and mention the estate by name.", saved
    assert saved["text"].endswith(" Edited."), saved
    c.go("cases")
    c.wait.until(lambda d: c.find_all(".results .state, .results table"))
    c.shot("14-cases")


def test_phone_sized_screens(server, browser):
    c = Console(browser.new(PHONE), server).open()
    c.wait_css("#api-key")
    c.shot("20-phone-sign-in")
    c.sign_in()
    c.send("give me an account overview")
    c.wait_answer()
    width = c.d.execute_script("return document.documentElement.scrollWidth")
    assert width <= PHONE[0] + 1, f"the page scrolls sideways ({width}px)"
    c.d.execute_script("window.scrollTo(0, 0)")
    c.shot("21-phone-chat")
    c.d.execute_script("document.querySelector('.chat-timeline').scrollIntoView()")
    c.shot("21b-phone-timeline")
    c.go("outbox")
    c.wait.until(lambda d: c.find_all(".mail, .state-empty"))
    c.shot("22-phone-outbox")
    c.go("workflows")
    c.wait_css(".data tbody tr")
    c.shot("23-phone-workflows")
