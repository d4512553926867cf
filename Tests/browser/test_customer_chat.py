"""The public customer chat page (/c/{slug}): a visitor without an API key sends a message and
sees the streamed answer, on a desktop and a 390 px phone, and the widget script opens it."""

import http.server
import threading

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import PHONE, SHOTS


@pytest.fixture(scope="module")
def chat_page(server):
    status, tenant = server.api("GET", "/v1/tenant")
    assert status == 200
    status, settings = server.api("PUT", "/v1/tenant/widget", {
        "enabled": True, "title": "Acme help", "greeting": "Hello! How can I help you today?",
    })
    assert status == 200, settings
    return f"{server.url}/c/{tenant['slug']}", settings


def answers(d):
    return [e.text for e in d.find_elements(By.CSS_SELECTOR, ".msg-assistant[aria-busy='false']")]


def test_a_visitor_sends_a_message_and_sees_the_streamed_answer(server, browser, chat_page):
    url, settings = chat_page
    for n, size in enumerate([None, PHONE]):
        d = browser.new(size) if size else browser.new()
        d.get(url)
        wait = WebDriverWait(d, 30)
        wait.until(lambda d: "Hello! How can I help you today?" in " ".join(answers(d)))
        assert d.title == "Acme help"
        box = d.find_element(By.CSS_SELECTOR, "textarea#message")
        assert d.find_element(By.CSS_SELECTOR, "label[for='message']").get_attribute("textContent").strip()
        assert d.find_element(By.ID, "log").get_attribute("role") == "log"
        box.send_keys("Hello, can you help me with my order?")
        box.send_keys(Keys.ENTER)
        wait.until(lambda d: len(answers(d)) >= 2)
        user = d.find_elements(By.CSS_SELECTOR, ".msg-user")
        assert user and "help me with my order" in user[-1].text
        assert answers(d)[-1].strip()
        # Nothing overflows a phone's width.
        if size:
            assert d.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
        d.save_screenshot(str(SHOTS / f"60-customer-chat-{'phone' if size else 'desktop'}.png"))

        # A reload keeps the conversation (the token is in the tab's sessionStorage).
        d.refresh()
        wait.until(lambda d: any("help me with my order" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".msg-user")))
        errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, errors

    # The conversation is the customer's: recorded with role customer.
    status, runs = server.api("GET", "/v1/workflows?limit=5")
    assert status == 200 and any(r["initial_prompt"].startswith("Hello, can you help me") for r in runs["data"])


def test_the_widget_script_opens_the_chat_in_a_panel(server, browser, chat_page):
    url, settings = chat_page
    key = settings["public_key"]
    # A business's page on another origin (a port of its own) that embeds the widget.
    html = (f'<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1>'
            f'<script src="{url}/widget.js" data-key="{key}"></script></body></html>').encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    site = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{site.server_address[1]}"
    try:
        status, _ = server.api("PUT", "/v1/tenant/widget", {"allowed_origins": [origin]})
        assert status == 200
        d = browser.new()
        d.get(origin + "/")
        wait = WebDriverWait(d, 30)
        button = wait.until(lambda d: d.find_element(By.XPATH, "//button[normalize-space()='Chat with us']"))
        assert button.get_attribute("aria-expanded") == "false"
        button.click()
        frame = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#parley-chat-panel iframe"))
        assert button.get_attribute("aria-expanded") == "true"
        d.switch_to.frame(frame)
        box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "textarea#message"))
        box.send_keys("Hello from the shop")
        box.send_keys(Keys.ENTER)
        wait.until(lambda d: len(answers(d)) >= 2)
        d.switch_to.default_content()
        d.save_screenshot(str(SHOTS / "61-customer-chat-widget.png"))
    finally:
        site.shutdown()
        server.api("PUT", "/v1/tenant/widget", {"allowed_origins": []})


def test_a_visitor_attaches_a_file_and_it_goes_with_the_next_message(server, browser, chat_page, tmp_path):
    url, _ = chat_page
    notes = tmp_path / "order notes.md"
    notes.write_text("# Order 5521\n\nThe kettle arrived with a cracked lid.\n")
    d = browser.new()
    d.get(url)
    wait = WebDriverWait(d, 30)
    wait.until(lambda d: answers(d))
    # The visible button opens the file picker; the file input itself is hidden.
    assert d.find_element(By.ID, "attach").text == "Attach a file"
    d.execute_script("document.getElementById('file').hidden = false")
    d.find_element(By.ID, "file").send_keys(str(notes))
    wait.until(lambda d: "order notes.md" in d.find_element(By.ID, "attachments").text)
    assert "goes with your next message" in d.find_element(By.ID, "status").text
    box = d.find_element(By.CSS_SELECTOR, "textarea#message")
    box.send_keys("Please read my notes")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: len(answers(d)) >= 2)
    assert d.find_element(By.ID, "attachments").text == ""
    d.save_screenshot(str(SHOTS / "62-customer-chat-attachment.png"))
    # The agent got the converted text with the message.
    status, runs = server.api("GET", "/v1/workflows?limit=10")
    assert status == 200
    prompts = [r["initial_prompt"] for r in runs["data"] if r["initial_prompt"].startswith("Please read my notes")]
    assert prompts and "order notes.md" in prompts[0] and "cracked lid" in prompts[0]
