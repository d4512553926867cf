"""The console signs in with a person's email and password (docs/accounts.md), next to the key and the link."""

import subprocess

from selenium.webdriver.common.keys import Keys

from conftest import _binary
from console import Console

EMAIL = "olga@example.com"
PASSWORD = "olga's long password"


def create_user(server, email, password, role):
    out = subprocess.run([_binary(), "user", "create", email, "--tenant", "default", "--role", role],
                         cwd=server.dir, env=server.env, input=password + "\n", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"created user {email}" in out.stdout


def test_email_and_password_sign_in_and_out(server, browser):
    create_user(server, EMAIL, PASSWORD, "operator")
    c = Console(browser.new(), server).open()
    c.wait_css("#signin-email")
    c.find("#signin-email").send_keys(EMAIL)
    c.find("#signin-password").send_keys("not the password", Keys.ENTER)
    c.wait_css("#signin-error")
    c.wait.until(lambda d: "not correct" in c.find("#signin-error").text)
    assert c.d.switch_to.active_element.get_attribute("id") == "signin-password"
    c.shot("accounts-01-wrong-password")

    c.find("#signin-password").send_keys(PASSWORD, Keys.ENTER)
    c.wait_signed_in()
    assert c.find(".role").text.lower() == "operator"
    assert c.find(".key-name").text == EMAIL
    assert "parley_session" not in c.d.execute_script("return document.cookie")
    c.shot("accounts-02-signed-in")
    # The session survives a reload, then signs out.
    c.d.refresh()
    c.wait_signed_in()
    c.find(".account button").click()
    c.wait_css("#api-key")
    assert "signed out" in c.find("#signin-error").text
