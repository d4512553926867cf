"""The console's account pages (docs/accounts.md): the invitation and password-reset links from the
emails, the Users view (admins) and the Tenants view (installation administrators)."""

import re
import subprocess
import time

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import _binary
from console import Console
from test_accounts import create_user


def emailed_link(server, email, kind, timeout=30):
    """The link of the newest email of `kind` to `email`, as the outbox channel delivered it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, page = server.api("GET", "/v1/outbox?limit=100")
        assert status == 200, page
        for entry in page["data"]:
            if entry["to"].lower() == email:
                m = re.search(r"(https?://\S+/\?" + kind + r"=pot_[A-Za-z0-9_-]+)", entry["content"])
                if m:
                    return m.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no {kind} email to {email} in the outbox")


def nav_routes(c):
    return [a.get_attribute("data-route") for a in c.find_all(".nav a")]


def fill_link_form(c, password, repeat=None, name=None, email=None):
    c.wait_css("#link-form")
    for css, value in (("#link-name", name), ("#link-email", email), ("#link-password", password), ("#link-repeat", repeat or password)):
        if value is not None:
            box = c.find(css)
            box.clear()
            box.send_keys(value)
    c.find("#link-submit").click()


def test_an_admin_invites_from_the_users_view_and_the_link_signs_the_person_in(server, browser):
    email = "nina@example.com"
    admin = Console(browser.new(), server).sign_in()
    admin.go("users")
    admin.wait_css("#users-list .state-empty, #users-list table")
    assert "users" in nav_routes(admin) and "tenants" not in nav_routes(admin), "an API key is no installation administrator"
    admin.find("#invite-email").send_keys(email)
    Select(admin.find("#invite-role")).select_by_value("operator")
    admin.find("#invite-submit").click()
    admin.wait_text(".toast-success", f"Invitation sent to {email} as operator")
    admin.shot("accounts-10-users-invite")
    # An address that is not one is refused next to the field.
    admin.find("#invite-email").send_keys("nobody-at-all")
    admin.find("#invite-submit").click()
    admin.wait_css("#invite-email-error")

    link = emailed_link(server, email, "invitation")
    assert link.startswith(server.url + "/?invitation=pot_")
    c = Console(browser.new(), server)
    c.d.get(link)
    # The token leaves the address bar at once; it lives in the page only.
    c.wait_css("#link-form")
    assert "invitation" not in c.d.current_url
    # A weak password and a mistyped repeat are refused in place, and the link still works after.
    fill_link_form(c, "short", name="Nina Simone")
    c.wait_text("#link-password-error", "at least 10 characters")
    fill_link_form(c, "nina's long password", repeat="nina's long passwort")
    c.wait_text("#link-repeat-error", "not the same")
    c.shot("accounts-11-invitation-page")
    fill_link_form(c, "nina's long password")
    c.wait_signed_in()
    assert c.find(".role").text.lower() == "operator"
    assert c.find(".key-name").text == email
    # An operator sees neither the Users nor the Tenants view, and cannot reach them by address.
    routes = nav_routes(c)
    assert "users" not in routes and "tenants" not in routes and "settings" in routes
    c.go("chat")
    c.d.execute_script("location.hash = '#/users'")
    c.wait.until(lambda d: "view-chat" in c.find(".main").get_attribute("class"))

    # The admin sees the new member, changes the role, and the link is spent.
    admin.go("chat")
    admin.go("users")
    row = admin.wait_css(f"#users-list tr[data-email='{email}']")
    Select(row.find_element(By.CSS_SELECTOR, "select.user-role")).select_by_value("viewer")
    admin.wait_text(".toast-success", f"{email} is now viewer")
    status, users = server.api("GET", "/v1/users")
    assert [u["role"] for u in users["data"] if u["email"] == email] == ["viewer"]

    again = Console(browser.new(), server)
    again.d.get(link)
    fill_link_form(again, "another long password")
    again.wait_text("#link-gone-text", "already been used")
    again.shot("accounts-12-invitation-used")

    # Removing takes two clicks; the removed member is gone from the list.
    row = admin.wait_css(f"#users-list tr[data-email='{email}']")
    remove = row.find_element(By.CSS_SELECTOR, ".user-remove")
    remove.click()
    admin.wait.until(lambda d: remove.text == "Confirm removal")
    remove.click()
    admin.wait_text(".toast-success", f"{email} was removed")
    admin.wait.until(lambda d: not admin.find_all(f"#users-list tr[data-email='{email}']"))


def test_a_password_reset_link_sets_the_password_and_signs_in(server, browser):
    email = "reset-me@example.com"
    create_user(server, email, "the first long password", "viewer")
    c = Console(browser.new(), server).open()
    c.wait_css("#signin-email")
    c.find("#signin-email").send_keys(email)
    c.find("#signin-forgot").click()
    c.wait_text("#signin-error", "a link to choose a new password is on its way")
    link = emailed_link(server, email, "password_reset")

    page = Console(browser.new(), server)
    page.d.get(link)
    fill_link_form(page, "tiny", email=email)
    page.wait_text("#link-password-error", "at least 10 characters")
    page.shot("accounts-13-reset-page")
    fill_link_form(page, "the second long password", email=email)
    page.wait_signed_in()
    assert page.find(".key-name").text == email
    assert "users" not in nav_routes(page)

    # The old password no longer works; the new one does.
    status, _ = server.api("POST", "/v1/auth/login", {"email": email, "password": "the first long password"})
    assert status == 401
    status, grant = server.api("POST", "/v1/auth/login", {"email": email, "password": "the second long password"})
    assert status == 200 and grant["email"] == email
    # The spent link says so.
    spent = Console(browser.new(), server)
    spent.d.get(link)
    fill_link_form(spent, "the third long password", email=email)
    spent.wait_text("#link-gone-text", "already been used")
    # A link that was never issued.
    bogus = Console(browser.new(), server)
    bogus.d.get(server.url + "/?password_reset=pot_notARealToken")
    fill_link_form(bogus, "the third long password", email=email)
    bogus.wait_text("#link-gone-text", "not valid")


def test_an_installation_admin_manages_tenants(server, browser):
    email = "root@example.com"
    # The first installation administrator is made with the CLI (docs/accounts.md).
    made = subprocess.run([_binary(), "user", "create", email, "--tenant", "default", "--role", "admin", "--installation-admin"],
                          cwd=server.dir, env=server.env, input="root's long password\n", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    c = Console(browser.new(), server).open()
    c.wait_css("#signin-email")
    c.find("#signin-email").send_keys(email)
    c.find("#signin-password").send_keys("root's long password", Keys.ENTER)
    c.wait_signed_in()
    routes = nav_routes(c)
    assert routes[-3:] == ["users", "tenants", "settings"], routes
    c.go("tenants")
    c.wait_css("#tenants-list tr[data-slug='default']")
    c.find("#new-tenant-name").send_keys("Globex Corporation")
    c.find("#new-tenant-slug").send_keys("globex")
    zone = c.find("#new-tenant-zone")
    zone.clear()
    zone.send_keys("Europe/Berlin")
    c.find("#new-tenant-submit").click()
    c.wait_text(".toast-success", "Created Globex Corporation (globex)")
    row = c.wait_css("#tenants-list tr[data-slug='globex']")
    assert row.find_element(By.CSS_SELECTOR, ".tenant-row-zone").get_attribute("value") == "Europe/Berlin"
    c.shot("accounts-14-tenants")
    # The same slug again is refused next to the field.
    c.find("#new-tenant-name").send_keys("Globex again")
    c.find("#new-tenant-slug").send_keys("globex")
    c.find("#new-tenant-submit").click()
    c.wait_css("#new-tenant-slug-error")

    # Rename and move the time zone, suspend, then delete.
    row = c.wait_css("#tenants-list tr[data-slug='globex']")
    name = row.find_element(By.CSS_SELECTOR, ".tenant-row-name")
    name.clear()
    name.send_keys("Globex")
    row.find_element(By.CSS_SELECTOR, ".tenant-save").click()
    c.wait_text(".toast-success", "Saved Globex")
    row = c.wait_css("#tenants-list tr[data-slug='globex']")
    row.find_element(By.CSS_SELECTOR, ".tenant-suspend").click()
    c.wait.until(lambda d: "suspended" in c.find("#tenants-list tr[data-slug='globex']").text)
    row = c.find("#tenants-list tr[data-slug='globex']")
    delete = row.find_element(By.CSS_SELECTOR, ".tenant-delete")
    delete.click()
    c.wait.until(lambda d: delete.text == "Confirm delete")
    delete.click()
    c.wait.until(lambda d: not c.find_all("#tenants-list tr[data-slug='globex']"))
    c.find("#tenants-deleted").click()
    c.wait.until(lambda d: "deleted" in c.find("#tenants-list tr[data-slug='globex']").text)
