"""Support pack: the Knowledge page lists the demo knowledge base and its search shows ranked
passages with their heading paths; the chat answers a customer's question citing [1]. Skipped
when the pack is not installed."""

import pytest

from console import Console


@pytest.fixture(scope="module")
def knowledge(server):
    status, _ = server.api("GET", "/v1/rag/collections")
    if status == 404:
        pytest.skip("the support pack is not installed")
    # `parley seed support` is idempotent.
    server.cli("seed", "support")


def test_the_knowledge_page_searches_the_demo_knowledge_base(server, browser, knowledge):
    c = Console(browser.new(), server).sign_in()
    c.go("knowledge")
    c.wait.until(lambda d: len(c.find_all("#kb-document-rows tr")) >= 4)
    rows = c.find("#kb-document-rows").text
    assert "Parley Kettle: Troubleshooting" in rows and "ready" in rows
    c.find("#kb-query").send_keys("descaling in hard-water areas every 4 weeks")
    c.find("#kb-search").click()
    c.wait_css(".kb-passage")
    first = c.find_all(".kb-passage")[0].text
    assert "Parley Kettle: Troubleshooting" in first and "## Descaling" in first, first
    assert c.no_alert()
    c.shot("40-support-knowledge-search")

    c.go("chat")
    c.send("Which photo should I email with a warranty claim?")
    answer = c.wait_answer()
    assert "rating label" in answer and "[1]" in answer, answer
    assert "search_knowledge" in c.find(".chat-timeline").text
    # Each source is a timeline item: its number, document and section.
    cited = c.find_all(".chat-timeline .tl-citation")
    assert cited and cited[0].text.startswith("[1] Parley Kettle Warranty"), [e.text for e in cited]
    c.shot("41-support-chat-citation")
