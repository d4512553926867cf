"""Browser tests of the web console: a real `parley serve` (the binary `swift build` made) on a fresh
SQLite database, driven through headless Chromium by Selenium. Screenshots of every main view go
to artifacts/screenshots/ on success, and of the page at the moment a test fails."""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
ADMIN_KEY = "prk_browserTestAdminKey0123456789abcdefghijklmnop"
DESKTOP = (1280, 800)
PHONE = (390, 844)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary():
    explicit = os.environ.get("PARLEY_BINARY")
    if explicit:
        return explicit
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return str(pathlib.Path(out.stdout.strip()) / "parley")


def _afternoon_zone():
    offset = 14 - time.gmtime().tm_hour
    # Etc/GMT zones count the other way round: Etc/GMT-3 is UTC+3.
    return "UTC" if offset == 0 else (f"Etc/GMT-{offset}" if offset > 0 else f"Etc/GMT+{-offset}")


class Server:
    """One `parley serve` for the whole run; its first-start output gives the sign-in link."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="parley-browser-")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines = []
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "ANTHROPIC_", "OPENAI_")) and k != "DATABASE_URL"}
        env.update({
            "DATABASE_URL": f"sqlite://{self.dir}/parley.db",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PARLEY_ADMIN_KEY": ADMIN_KEY,
            "POLL_INTERVAL_MS": "200",
            "LOG_LEVEL": "warning",
            # A zone where it is early afternoon now, so quiet hours never hold the tests' email.
            "PARLEY_TIME_ZONE": _afternoon_zone(),
        })
        self.env = env
        self.log = open(pathlib.Path(self.dir) / "server.log", "w")
        self.proc = subprocess.Popen([_binary(), "serve"], cwd=self.dir, env=env, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(60) or self.proc.poll() is not None:
            raise RuntimeError("parley serve did not start: " + "\n".join(self.lines))
        # The sign-in line comes with the listening line (one write).
        deadline = time.time() + 5
        while time.time() < deadline and not self.signin_link:
            time.sleep(0.05)

    @property
    def signin_link(self):
        for line in self.lines:
            m = re.search(r"Sign in to the console: (\S+)", line)
            if m:
                return m.group(1)
        return None

    def cli(self, *args):
        """Runs a `parley` command against this server's database; returns its output."""
        out = subprocess.run([_binary(), *args], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"parley {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def api(self, method, path, body=None, key=ADMIN_KEY):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {key}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                text = res.read().decode()
                return res.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, (json.loads(text) if text else None)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def chromium_paths():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def legal(server):
    """The legal pack's demo firm in the default tenant, or a skip when the pack is not installed."""
    status, _ = server.api("GET", "/v1/cases?limit=1")
    if status == 404:
        pytest.skip("the legal pack is not installed")
    # `parley seed legal` is idempotent, so one seeding serves every test.
    server.cli("seed", "legal", "--cases", "80")


@pytest.fixture(scope="session", autouse=True)
def screenshot_folder():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


def make_driver(size=DESKTOP):
    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={size[0]},{size[1]}", "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    # The viewport itself, exactly (a window size would include the browser's own frame).
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600})
    return d


@pytest.fixture
def browser(request):
    """A fresh browser (no cookies); more with browser.new(size)."""
    drivers = []

    class Factory:
        def new(self, size=DESKTOP):
            d = make_driver(size)
            drivers.append(d)
            return d

    factory = Factory()
    yield factory
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for n, d in enumerate(drivers):
        if failed:
            d.save_screenshot(str(SHOTS / f"FAILED-{request.node.name}-{n}.png"))
            errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
            if errors:
                print("browser console errors:", *errors, sep="\n  ")
        d.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
