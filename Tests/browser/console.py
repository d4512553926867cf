"""A page object for the console, shared by the core tests and (later) the legal pack's."""

from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ADMIN_KEY, SHOTS


class Console:
    def __init__(self, driver, server, timeout=30):
        self.d = driver
        self.server = server
        # Views redraw after each change: an element found a moment ago may be gone; look again.
        self.wait = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))

    # Navigation and sign-in

    def open(self, fragment=""):
        self.d.get(self.server.url + "/" + fragment)
        return self

    def sign_in(self, key=ADMIN_KEY):
        self.open()
        field = self.wait.until(EC.visibility_of_element_located((By.ID, "api-key")))
        field.send_keys(key, Keys.ENTER)
        self.wait_signed_in()
        return self

    def wait_signed_in(self):
        self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".topbar .tenant-name")))

    def go(self, route):
        self.d.execute_script("location.hash = arguments[0]", f"#/{route}")
        self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f".main.view-{route.split('/')[0]}")))

    def shot(self, name):
        # Let fonts, transitions and the last paint settle.
        self.d.execute_script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        self.d.save_screenshot(str(SHOTS / f"{name}.png"))

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def wait_css(self, css):
        return self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def wait_text(self, css, text):
        """Waits until any element matching css contains text (toasts stack: an older one may
        still be shown above the one awaited)."""
        def present(driver):
            try:
                return any(text in e.text for e in driver.find_elements(By.CSS_SELECTOR, css))
            except StaleElementReferenceException:
                return False
        self.wait.until(present)

    def no_alert(self):
        try:
            self.d.switch_to.alert
            return False
        except NoAlertPresentException:
            return True

    # Chat

    def send(self, text):
        box = self.wait.until(EC.element_to_be_clickable((By.ID, "chat-input")))
        box.clear()
        box.send_keys(text)
        before = len(self.find_all(".bubble-assistant"))
        box.send_keys(Keys.ENTER)
        self.wait.until(lambda d: len(self.find_all(".bubble-assistant")) > before)

    def wait_answer(self):
        """Waits for the latest run to end; returns the answer bubble's text."""
        self.wait.until(lambda d: self.find_all(".tl-done, .tl-error, .tl-cancelled"))
        self.wait.until(lambda d: not self.find_all(".bubble.streaming"))
        return self.find_all(".bubble-assistant")[-1].text

    def timeline_kinds(self):
        return [li.get_attribute("data-kind") for li in self.find_all(".chat-timeline .tl-item")]

    def approve_pending(self, decision="Approve"):
        card = self.wait_css(".tl-approval")
        button = card.find_element(By.XPATH, f".//button[normalize-space()='{decision}']")
        button.click()
        self.wait.until(lambda d: "tl-resolved" in card.get_attribute("class"))
