"""Legal pack flows. They run once the pack is installed (its /v1/cases routes exist) with its
demo data; until then they are skipped."""

from console import Console


def test_find_a_case_approve_the_email_and_see_it_in_the_outbox(server, browser, legal):
    c = Console(browser.new(), server).sign_in()
    c.send("Find the case for Bob Smyth")
    answer = c.wait_answer()
    assert "Smith" in answer or "Smyth" in answer
    assert "found no open case" not in answer
    assert "lookup_case_by_name" in c.find(".chat-timeline").text
    c.shot("30-legal-find-case")

    # A new client, created and reminded in one conversation; the email waits for a person.
    c.send("Create a case for Zelda Quimby, zelda.quimby@example.com, +1 555-201-7788, needs W2 and 2023 tax return")
    created = c.wait_answer()
    assert "Zelda Quimby" in created
    c.send("Send Zelda Quimby the initial reminder")
    c.wait_css(".tl-approval .email-preview")
    # The card shows the email as Zelda will read it: recipient, subject, the body line by line, a
    # link to follow; not the tool's JSON with its \n escapes.
    card = c.find(".tl-approval")
    preview = c.find(".tl-approval .email-preview")
    lines = [line.strip() for line in preview.text.splitlines() if line.strip()]
    assert "To: zelda.quimby@example.com" in lines
    assert any(line.startswith("Subject: Document Request - Case #") for line in lines), lines
    assert "Dear Zelda Quimby," in lines
    assert any(line.startswith("- W2") for line in lines) and any(line.startswith("- 2023 tax return") for line in lines), lines
    assert "\\n" not in preview.text and '"body"' not in card.text
    links = [a.get_attribute("href") for a in preview.find_elements("css selector", "a")]
    assert any("/upload/" in href for href in links), links
    assert len(preview.find_elements("css selector", "p.email-paragraph")) >= 4
    c.shot("32-legal-approval")
    c.approve_pending()
    sent = c.wait_answer()
    assert "zelda.quimby@example.com" in sent
    c.shot("33-legal-sent")

    # A bare link in an answer is a link (and renders at all).
    c.send("what's the upload link for Zelda Quimby")
    assert "/upload/" in c.wait_answer()
    anchors = c.find_all(".bubble-assistant")[-1].find_elements("css selector", "a")
    assert any("/upload/" in (a.get_attribute("href") or "") for a in anchors)

    # The worker delivers it to the outbox: the reminder lists exactly the outstanding documents.
    c.go("outbox")
    c.wait.until(lambda d: "zelda.quimby@example.com" in c.find(".main").text)
    c.shot("34-legal-outbox")
    status, outbox = server.api("GET", "/v1/outbox")
    mine = [e for e in outbox["data"] if e["to"] == "zelda.quimby@example.com"]
    assert len(mine) == 1 and "W2" in mine[0]["content"] and "2023 tax return" in mine[0]["content"].lower().replace("tax return", "tax return")

    c.go("cases")
    c.wait.until(lambda d: c.find_all(".results table, .results .state"))
    c.shot("31-legal-cases")
