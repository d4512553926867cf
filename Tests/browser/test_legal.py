"""Legal pack flows. They run once the pack is installed (its /v1/cases routes exist) with its
demo data; until then they are skipped."""

import pytest

from console import Console


@pytest.fixture
def legal(server):
    status, _ = server.api("GET", "/v1/cases?limit=1")
    if status == 404:
        pytest.skip("the legal pack is not installed")


def test_find_a_case_approve_the_email_and_see_it_in_the_outbox(server, browser, legal):
    c = Console(browser.new(), server).sign_in()
    c.send("Find the case for Bob Smyth")
    answer = c.wait_answer()
    assert "Smyth" in answer or "Smith" in answer
    c.shot("30-legal-find-case")
    c.go("cases")
    c.wait.until(lambda d: c.find_all(".results table, .results .state"))
    c.shot("31-legal-cases")
