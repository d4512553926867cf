"""The Hand-offs view end to end in Chromium: the inbox, the conversation with the customer's
messages arriving live, a staff reply that reaches the customer's session, and the hand-back after
which the assistant answers again."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from console import Console


def test_staff_take_reply_and_hand_back_a_conversation(server, browser):
    # A customer (an API client) asks for a person.
    status, session = server.api("POST", "/v1/sessions", {"title": "Blender refund"})
    assert status == 201, session
    sid = session["session_id"]
    status, run = server.api("POST", f"/v1/sessions/{sid}/messages", {"content": "My blender broke, can I talk to a human?"})
    assert status == 202 and run["status"] == "WAITING_HUMAN", run

    c = Console(browser.new(), server).sign_in()
    c.go("handoffs")
    item = c.wait_css(".handoff-list .session-item")
    assert "asked to talk to a person" in item.text
    c.shot("30-handoffs-inbox")
    item.click()
    c.wait_text(".chat-log", "My blender broke")
    assert "open" in c.find(".handoff-meta").text
    assert "talk to a human" in c.find(".handoff-summary").text

    # Claim, then reply: the reply is stored in the customer's session.
    c.find(".chat-head .btn").click()
    c.wait_text(".handoff-meta", "taken by")
    box = c.wait_css("#handoff-reply")
    box.send_keys("Hi, I'm Sam. I have sent you a replacement.", Keys.ENTER)
    c.wait_text(".chat-log .bubble-staff", "replacement")
    _, messages = server.api("GET", f"/v1/sessions/{sid}/messages")
    assert [m["role"] for m in messages["data"]] == ["user", "staff"]

    # The customer's next message arrives live; the assistant does not answer it.
    status, _ = server.api("POST", f"/v1/sessions/{sid}/messages", {"content": "Thanks Sam, what did the person say?"})
    assert status == 202
    c.wait_text(".chat-log", "Thanks Sam")
    assert not c.find_all(".chat-log .bubble-assistant")
    c.shot("31-handoffs-conversation")

    # Hand back with a note: the assistant answers in the same conversation.
    c.find("#handoff-note").send_keys("Replacement sent")
    c.find(".handoff-back .btn-primary").click()
    c.wait_text(".handoff-meta", "returned")
    c.wait_css(".chat-log .bubble-assistant")
    assert "Handed back" in c.find(".chat-log").text
    _, shown = server.api("GET", f"/v1/sessions/{sid}")
    assert shown["state"] == "agent"
    assert c.find("#handoff-reply").is_displayed() is False
    c.shot("32-handoffs-handed-back")


def test_an_admin_sets_the_hand_off_email_in_settings(server, browser):
    c = Console(browser.new(), server).sign_in()
    c.go("settings")
    field = c.wait_css("#tenant-handoff-email")
    field.clear()
    field.send_keys("not an address")
    c.find("#tenant-save").click()
    c.wait_text(".settings-form", "must be one email address")
    field.clear()
    field.send_keys("support@example.com")
    c.find("#tenant-save").click()
    c.wait.until(lambda d: server.api("GET", "/v1/tenant")[1]["handoff_email"] == "support@example.com")
    field.clear()
    c.find("#tenant-save").click()
    c.wait.until(lambda d: server.api("GET", "/v1/tenant")[1]["handoff_email"] is None)
