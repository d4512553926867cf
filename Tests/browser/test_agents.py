"""Agents as data from the console: the default agent is listed, its prompt and tools are edited
and saved as a new version, which the API then shows."""

from selenium.webdriver.common.by import By

from console import Console


def test_an_admin_edits_the_default_agents_prompt_and_tools(server, browser):
    c = Console(browser.new(), server).sign_in()
    c.go("agents/assistant")
    c.wait_text("#agent-name", "assistant · version")
    status, before = server.api("GET", "/v1/agents/assistant")
    assert status == 200, before
    # Every tool is allowed by default; narrow the agent to one tool and give it its own prompt.
    try:
        c.wait_css("#agent-all-tools").click()
        boxes = c.find_all(".agent-tools input[name=tool]")
        assert boxes and all(b.is_enabled() for b in boxes)
        for box in boxes:
            if box.is_selected() != (box.get_attribute("value") == "get_workspace"):
                box.click()
        c.find("#agent-prompt").send_keys("You are the front desk. Be brief.")
        c.find("#agent-form button[type=submit]").click()
        c.wait_text("#agent-name", f"version {before['version'] + 1}")
        status, after = server.api("GET", "/v1/agents/assistant")
        assert status == 200, after
        assert after["version"] == before["version"] + 1
        assert after["tools"] == ["get_workspace"]
        assert after["system_prompt"] == "You are the front desk. Be brief."
        c.wait_text(".versions", f"Version {after['version']}")
        assert c.find(".agent-list a[aria-current=page]").text.startswith("assistant")
        c.shot("40-agents")
    finally:
        # The server is shared with the other browser tests: the assistant gets its defaults back.
        server.api("PATCH", "/v1/agents/assistant", {"system_prompt": None, "tools": None})
