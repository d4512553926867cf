import Foundation
import ParleyComms
import ParleyCore
import Testing

private func sms(
    _ text: String,
    name: String = "test_sms",
    required: [String] = [],
    purpose: TemplatePurpose = .transactional,
    version: Int = 1
) -> MessageTemplate {
    MessageTemplate(name: name, channel: "sms", purpose: purpose, text: text, requiredVariables: required, version: version)
}

private func email(
    subject: String = "Hello {{name}}",
    text: String = "Hi {{name}}",
    html: String? = nil,
    name: String = "test_email",
    required: [String] = []
) -> MessageTemplate {
    MessageTemplate(name: name, channel: "email", purpose: .transactional, subject: subject, text: text, html: html,
                    requiredVariables: required)
}

/// Captures the typed error of a throwing call (nil when it did not throw).
private func templateError(_ body: () throws(TemplateError) -> Void) -> TemplateError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

private func renderError(_ t: MessageTemplate, _ variables: [String: JSONValue] = [:]) -> TemplateError? {
    templateError { () throws(TemplateError) in _ = try TemplateRenderer.render(t, variables: variables, cache: TemplateCache()) }
}

private func validateError(_ t: MessageTemplate) -> TemplateError? {
    templateError { () throws(TemplateError) in try TemplateRenderer.validate(t) }
}

private func render(_ t: MessageTemplate, _ variables: [String: JSONValue]) throws -> RenderedMessage {
    try TemplateRenderer.render(t, variables: variables, cache: TemplateCache())
}

@Suite struct TemplateRenderingTests {
    @Test func rendersVariables() throws {
        let t = sms("Hi {{first_name}}, your {{model}} is ready for pickup at {{ location }}.")
        let out = try render(t, ["first_name": "Dana", "model": "ZT-3400 mower", "location": "Bay 2"])
        #expect(out == RenderedMessage(subject: nil, text: "Hi Dana, your ZT-3400 mower is ready for pickup at Bay 2.", html: nil))
    }

    @Test func listSections() throws {
        let t = sms("Due:{{#items}} {{name}} ({{hours}}h){{/items}}{{^items}} nothing{{/items}}")
        let filled = try render(t, ["items": [["name": "oil change", "hours": 100], ["name": "blade sharpening", "hours": 50]]])
        #expect(filled.text == "Due: oil change (100h) blade sharpening (50h)")
        let empty = try render(t, ["items": []])
        #expect(empty.text == "Due: nothing")
        let absent = try render(t, [:])
        #expect(absent.text == "Due: nothing")
        let scalars = try render(sms("{{#tags}}[{{.}}]{{/tags}}"), ["tags": ["a", "b", 3]])
        #expect(scalars.text == "[a][b][3]")
    }

    @Test func conditionalAndInvertedSections() throws {
        let t = sms("{{#vip}}Thanks for being a VIP, {{name}}! {{/vip}}{{^vip}}Hello {{name}}. {{/vip}}See you soon.")
        #expect(try render(t, ["vip": true, "name": "Ann"]).text == "Thanks for being a VIP, Ann! See you soon.")
        #expect(try render(t, ["vip": false, "name": "Ann"]).text == "Hello Ann. See you soon.")
        #expect(try render(t, ["name": "Ann"]).text == "Hello Ann. See you soon.")
        // null and "" are falsy too
        #expect(try render(t, ["vip": nil, "name": "Ann"]).text == "Hello Ann. See you soon.")
        #expect(try render(t, ["vip": "", "name": "Ann"]).text == "Hello Ann. See you soon.")
        #expect(try render(t, ["vip": "yes", "name": "Ann"]).text == "Thanks for being a VIP, Ann! See you soon.")
    }

    @Test func nestedObjects() throws {
        let t = sms("{{#unit}}{{make}} {{model}}{{/unit}} / {{unit.serial}} / [{{unit.missing}}] [{{nothing.here}}]")
        let out = try render(t, ["unit": ["make": "Kubota", "model": "BX23S", "serial": "K-001"]])
        #expect(out.text == "Kubota BX23S / K-001 / [] []")
    }

    @Test func multilineStandaloneSectionsLeaveNoBlankLines() throws {
        let t = sms("""
            Parts:
            {{#parts}}
            - {{.}}
            {{/parts}}
            Done
            """)
        #expect(try render(t, ["parts": ["filter", "belt"]]).text == "Parts:\n- filter\n- belt\nDone")
    }

    @Test func smsAndTextAreNotEscaped() throws {
        let raw = "Tom & Jerry <3 \"quoted\" O'Brien > you"
        #expect(try render(sms("{{name}}"), ["name": .string(raw)]).text == raw)
        #expect(try render(sms("Hi {{{name}}} / {{&name}}"), ["name": .string(raw)]).text == "Hi \(raw) / \(raw)")
        let out = try render(email(subject: "For {{name}}", text: "Dear {{name}}", html: "<p>{{name}}</p>"), ["name": .string(raw)])
        #expect(out.text == "Dear \(raw)")
        #expect(out.subject == "For \(raw)")
        // template text itself is untouched as well
        #expect(try render(sms("A & B <ok> {{x}}"), ["x": "1"]).text == "A & B <ok> 1")
    }

    @Test func htmlIsEscaped() throws {
        let t = email(html: "<p>Hello {{name}}</p>{{#notes}}<li>{{.}}</li>{{/notes}}<div>{{{trusted}}}</div>")
        let out = try render(t, ["name": "Tom & Jerry <3", "notes": ["a<b", "\"q\""], "trusted": "<b>bold</b>"])
        #expect(out.html == "<p>Hello Tom &amp; Jerry &lt;3</p><li>a&lt;b</li><li>&quot;q&quot;</li><div><b>bold</b></div>")
        #expect(out.text == "Hi Tom & Jerry <3")
    }

    @Test func missingRequiredVariablesAreReportedTogether() {
        let t = sms("{{a}} {{b}} {{c}} {{d}} {{e}}", required: ["a", "b", "c", "d", "e"])
        let error = renderError(t, ["a": "ok", "b": "", "c": nil, "e": "   "])
        #expect(error == .missingVariables(["b", "c", "d", "e"]))
        #expect(error?.description == "missing required variables: b, c, d, e")
        // numbers, bools and lists count as present
        #expect(renderError(sms("{{a}}{{b}}{{#c}}x{{/c}}", required: ["a", "b", "c"]), ["a": 0, "b": false, "c": []]) == nil)
    }

    @Test func unicodeContent() throws {
        let t = email(subject: "Olá {{name}} 👋", text: "¿Listo, {{name}}? Ihr Gerät ist fertig — 準備完了 ✅",
                      html: "<p>{{name}} — ñ</p>")
        let out = try render(t, ["name": "José Müller 日本 🚜"])
        #expect(out.subject == "Olá José Müller 日本 🚜 👋")
        #expect(out.text == "¿Listo, José Müller 日本 🚜? Ihr Gerät ist fertig — 準備完了 ✅")
        #expect(out.html == "<p>José Müller 日本 🚜 — ñ</p>")
    }

    @Test func numberFormatting() throws {
        let t = sms("{{a}}|{{b}}|{{c}}|{{d}}|{{e}}|{{f}}|{{g}}")
        let out = try render(t, ["a": 3, "b": 3.0, "c": 19.99, "d": -2, "e": 0, "f": true, "g": 1_000_000])
        #expect(out.text == "3|3|19.99|-2|0|true|1000000")
        let decoded = try JSONDecoder().decode([String: JSONValue].self, from: Data(#"{"a": 250, "b": 0.5}"#.utf8))
        #expect(try render(sms("{{a}} {{b}}"), decoded).text == "250 0.5")
    }

    @Test func emptyRenderedTextIsRejected() {
        #expect(renderError(sms("{{maybe}}")) == .invalid("text of \"test_sms\" rendered empty"))
        #expect(renderError(email(subject: "{{nothing}}", text: "body")) == .invalid("subject of \"test_email\" rendered empty"))
    }
}

@Suite struct TemplateSubjectTests {
    @Test func subjectStripsLineBreaks() throws {
        let t = email(subject: "Re: {{topic}}")
        let out = try render(t, ["topic": "Invoice\r\nBcc: attacker@example.com\nX-Evil: 1\r\t", "name": "x"])
        let subject = try #require(out.subject)
        #expect(!subject.contains("\r") && !subject.contains("\n") && !subject.contains("\t"))
        #expect(subject == "Re: Invoice Bcc: attacker@example.com X-Evil: 1")
        // line breaks in the subject template itself, and Unicode line separators
        let multi = email(subject: "Line one\n{{a}}\u{2028}end\n")
        #expect(try render(multi, ["a": "two"]).subject == "Line one two end")
    }

    @Test func subjectIsNotHTMLEscaped() throws {
        #expect(try render(email(subject: "{{a}}"), ["a": "Q&A <today>"]).subject == "Q&A <today>")
    }
}

@Suite struct TemplateValidationTests {
    @Test func syntaxErrorsNameTheField() {
        guard case .syntax(let field, let message) = validateError(sms("Hi {{#a}} there")) else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(field == "text")
        #expect(message.contains("expectedSectionEnd"))
        #expect(message.contains("line 1"))

        guard case .syntax(let field2, let message2) = validateError(email(html: "<p>{{name</p>")) else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(field2 == "html")
        #expect(!message2.isEmpty)

        guard case .syntax(let field3, let message3) = validateError(email(subject: "Hello {{name")) else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(field3 == "subject")
        #expect(message3.contains("unclosed tag"))

        guard case .syntax(let field4, let message4) = validateError(sms("ok\nstill ok\n{{#a}}x{{/b}}")) else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(field4 == "text")
        // line numbers refer to the author's text, not to the internal pragma prefix
        #expect(message4.contains("sectionCloseNameIncorrect") && message4.contains("line 3"))

        // syntax is reported before missing variables
        #expect(renderError(sms("{{#a}}", required: ["a"])).map { if case .syntax(field: "text", _) = $0 { true } else { false } } == true)
        #expect(validateError(sms("{{% NOPE: X}}")).map { if case .syntax = $0 { true } else { false } } == true)
    }

    @Test func invalidNames() {
        for bad in ["", "Upper", "with space", ".dot", "dot.", "dot..name", "émoji", "slash/x", String(repeating: "a", count: 65)] {
            #expect(validateError(sms("hi", name: bad)) == .invalidName(bad), "\(bad)")
        }
        for good in ["a", "a_b-1", "2fa_code", "legal.initial_reminder", String(repeating: "z", count: 64)] {
            #expect(validateError(sms("hi", name: good)) == nil, "\(good)")
        }
    }

    @Test func channelRules() {
        var smsWithSubject = sms("hi")
        smsWithSubject.subject = "Subject"
        #expect(validateError(smsWithSubject) == .invalid("sms templates cannot have a subject"))

        var smsWithHTML = sms("hi")
        smsWithHTML.html = "<p>hi</p>"
        #expect(validateError(smsWithHTML) == .invalid("sms templates cannot have an html part"))

        var noSubject = email()
        noSubject.subject = nil
        #expect(validateError(noSubject) == .invalid("email templates need a subject"))
        noSubject.subject = "  "
        #expect(validateError(noSubject) == .invalid("email templates need a subject"))

        var fax = sms("hi")
        fax.channel = "fax"
        #expect(validateError(fax) == .invalid("channel must be \"email\" or \"sms\", not \"fax\""))

        #expect(validateError(sms("   ")) == .invalid("text is empty"))
        #expect(validateError(sms("hi", version: 0)) == .invalid("version must be at least 1"))
        #expect(validateError(email(html: "  ")) != nil)
    }

    @Test func requiredVariablesMustBePlainNames() {
        #expect(validateError(sms("hi", required: ["first_name", "unit-id", "_x"])) == nil)
        for bad in ["", "a.b", "has space", "{{x}}", "1st", "-x"] {
            guard case .invalid = validateError(sms("hi", required: [bad])) else {
                Issue.record("\(bad) should be rejected")
                continue
            }
        }
        #expect(validateError(sms("hi", required: ["a", "a"])) == .invalid("required variable \"a\" is listed twice"))
    }

    @Test func unsupportedTagsAreRejected() {
        // partials would silently render nothing (no library); {{}} would dump the whole context
        #expect(validateError(sms("Hi {{> footer}}")) == .invalid("text: partials ({{>footer}}) are not supported"))
        #expect(validateError(email(html: "{{}}")) == .invalid("html: empty tag {{}}"))
        #expect(validateError(sms("{{#}}x{{/}}")) == .invalid("text: empty tag {{#}}"))
    }

    @Test func marketingCannotSkipQuietHours() {
        var t = sms("Sale! Reply STOP to opt out.", purpose: .marketing)
        #expect(validateError(t) == nil)
        t.exemptFromQuietHours = true
        #expect(validateError(t) == .invalid("marketing templates cannot be exempt from quiet hours"))
    }

    @Test func setDelimitersAndCommentsAreAccepted() throws {
        let t = sms("{{! internal note }}{{=<% %>=}}Hi <%name%> {{literal}}")
        #expect(validateError(t) == nil)
        #expect(try render(t, ["name": "Al"]).text == "Hi Al {{literal}}")
        #expect(TemplateRenderer.variables(in: t) == ["name"])
    }
}

@Suite struct TemplateVariableListingTests {
    @Test func listsReferencedNames() {
        let t = email(
            subject: "{{firm}}: {{matter.title}}",
            text: "{{! note }}{{#docs}}{{title}} {{.}} {{.rel}}{{/docs}}{{^docs}}none{{/docs}} {{uppercased(client)}} {{{raw}}} {{&amp}}",
            html: "<p>{{firm}} {{late}}</p>"
        )
        #expect(TemplateRenderer.variables(in: t) == ["firm", "matter", "docs", "title", "client", "raw", "amp", "late"])
    }
}

@Suite struct TemplateCacheTests {
    @Test func returnsTheSameCompiledTemplate() throws {
        let cache = TemplateCache()
        let t = sms("Hi {{name}}", name: "cached")
        let first = try cache.compiled(for: t)
        let second = try cache.compiled(for: t)
        #expect(first === second)
        #expect(cache.stats == TemplateCacheStats(hits: 1, misses: 1, entries: 1))

        _ = try TemplateRenderer.render(t, variables: ["name": "A"], cache: cache)
        #expect(cache.stats.hits == 2)

        var bumped = t
        bumped.text = "Hello {{name}}"
        bumped.version = 2
        let third = try cache.compiled(for: bumped)
        #expect(third !== first)
        #expect(third.version == 2)
        #expect(try TemplateRenderer.render(bumped, variables: ["name": "A"], cache: cache).text == "Hello A")
        #expect(try TemplateRenderer.render(t, variables: ["name": "A"], cache: cache).text == "Hi A")
    }

    @Test func sameKeyDifferentSourceIsNotServedStale() throws {
        let cache = TemplateCache()
        let global = sms("Global {{name}}", name: "reminder")
        let tenant = sms("Tenant {{name}}", name: "reminder")
        #expect(try TemplateRenderer.render(global, variables: ["name": "x"], cache: cache).text == "Global x")
        #expect(try TemplateRenderer.render(tenant, variables: ["name": "x"], cache: cache).text == "Tenant x")
    }

    @Test func failuresAreNotCachedAndCapacityIsBounded() throws {
        let cache = TemplateCache(capacity: 2)
        #expect(templateError { () throws(TemplateError) in _ = try cache.compiled(for: sms("{{#a}}")) } != nil)
        #expect(cache.stats.entries == 0)
        let a = try cache.compiled(for: sms("a", name: "a"))
        _ = try cache.compiled(for: sms("b", name: "b"))
        _ = try cache.compiled(for: sms("a", name: "a"))  // a is now most recently used
        _ = try cache.compiled(for: sms("c", name: "c"))  // evicts b
        #expect(cache.stats.entries == 2)
        #expect(try cache.compiled(for: sms("a", name: "a")) === a)
    }

    @Test func concurrentRendersAgree() async throws {
        let cache = TemplateCache()
        let t = sms("{{#items}}{{.}},{{/items}} {{name}} & co", name: "concurrent")
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<64 {
                group.addTask {
                    try TemplateRenderer.render(t, variables: ["items": [1, 2], "name": .string("n\(i % 2)")], cache: cache).text
                }
            }
            var all: [String] = []
            for try await text in group { all.append(text) }
            return all
        }
        #expect(Set(results) == ["1,2, n0 & co", "1,2, n1 & co"])
        #expect(cache.stats.entries == 1)
        #expect(cache.stats.hits + cache.stats.misses == 64)
    }
}

@Suite struct JSONValueTemplateTests {
    @Test func codableRoundTrip() throws {
        let json = #"{"s":"x","n":1.5,"i":7,"b":true,"a":[1,"two",null],"o":{"k":false},"z":null}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        let expected: JSONValue = ["s": "x", "n": 1.5, "i": 7, "b": true, "a": [1, "two", nil], "o": ["k": false], "z": nil]
        #expect(value == expected)
        let again = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        #expect(again == value)
    }

    @Test func templateDecodingAppliesDefaults() throws {
        let json = #"{"name":"x","channel":"sms","purpose":"marketing","text":"Hi"}"#
        let t = try JSONDecoder().decode(MessageTemplate.self, from: Data(json.utf8))
        #expect(t == MessageTemplate(name: "x", channel: "sms", purpose: .marketing, text: "Hi"))
        #expect(t.version == 1 && t.requiredVariables.isEmpty && !t.exemptFromQuietHours)
        let round = try JSONDecoder().decode(MessageTemplate.self, from: JSONEncoder().encode(DefaultTemplates.documentRequest))
        #expect(round == DefaultTemplates.documentRequest)
    }
}

@Suite struct DefaultTemplateTests {
    @Test func allValidate() throws {
        #expect(DefaultTemplates.all.map(\.name) == ["appointment_reminder", "document_request", "follow_up", "core.handoff_notice",
                                                        "core.user_invitation", "core.password_reset"])
        for t in DefaultTemplates.all {
            try TemplateRenderer.validate(t)
            // every required variable is actually used by the template
            let used = Set(TemplateRenderer.variables(in: t))
            #expect(Set(t.requiredVariables).isSubset(of: used), "\(t.name)")
        }
        #expect(DefaultTemplates.appointmentReminder.channel == "sms" && DefaultTemplates.appointmentReminder.purpose == .transactional)
        #expect(DefaultTemplates.documentRequest.channel == "email" && DefaultTemplates.documentRequest.purpose == .transactional)
        #expect(DefaultTemplates.followUp.channel == "sms" && DefaultTemplates.followUp.purpose == .marketing)
    }

    @Test func appointmentReminderRenders() throws {
        let t = DefaultTemplates.appointmentReminder
        let full = try render(t, [
            "first_name": "Sam", "business_name": "Valley Power & Lawn", "service": "annual tune-up",
            "appointment_date": "Tue May 6", "appointment_time": "9:30 AM", "location": "Service door B",
            "business_phone": "555-0100",
        ])
        #expect(full.text == "Hi Sam, Valley Power & Lawn here. Reminder: your annual tune-up appointment is Tue May 6 at 9:30 AM. Where: Service door B. Reply C to confirm or call 555-0100 to reschedule.")
        let minimal = try render(t, ["first_name": "Sam", "business_name": "VPL", "appointment_date": "Tue", "appointment_time": "9"])
        #expect(minimal.text == "Hi Sam, VPL here. Reminder: your appointment is Tue at 9. Reply C to confirm.")
        #expect(renderError(t, ["first_name": "Sam"]) == .missingVariables(["business_name", "appointment_date", "appointment_time"]))
    }

    @Test func documentRequestRenders() throws {
        let out = try render(DefaultTemplates.documentRequest, [
            "client_name": "Ms. Ortiz", "firm_name": "Hale & Ng LLP", "matter_name": "Estate of R. Ortiz",
            "upload_url": "https://portal.example.com/u/abc?x=1&y=2", "due_date": "June 3",
            "documents": [["title": "Death certificate", "note": "certified copy"], ["title": "Last will <original>"]],
            "contact_name": "Jo Hale",
        ])
        #expect(out.subject == "Hale & Ng LLP: documents needed for Estate of R. Ortiz")
        #expect(out.text.contains("- Death certificate (certified copy)\n- Last will <original>\n"))
        #expect(out.text.contains("by June 3:"))
        #expect(out.text.contains("https://portal.example.com/u/abc?x=1&y=2"))
        #expect(out.text.contains("reply email.\n\nQuestions? Contact Jo Hale.\n\nHale & Ng LLP"))
        let html = try #require(out.html)
        #expect(html.contains("<li>Last will &lt;original&gt;</li>"))
        #expect(html.contains("href=\"https://portal.example.com/u/abc?x=1&amp;y=2\""))
        #expect(html.contains("<p>Hale &amp; Ng LLP</p>"))

        let noDocs = try render(DefaultTemplates.documentRequest, [
            "client_name": "A", "firm_name": "F", "matter_name": "M", "upload_url": "https://x",
        ])
        #expect(noDocs.text.contains("- the documents we discussed at our last meeting"))
        #expect(noDocs.text.hasSuffix("by reply email.\n\nF"))
        #expect(!noDocs.text.contains("Questions?"))
    }

    @Test func followUpRenders() throws {
        let out = try render(DefaultTemplates.followUp, ["first_name": "Lee", "business_name": "North Saw & Mower", "purchase": "chainsaw"])
        #expect(out.text == "Hi Lee, thanks for choosing North Saw & Mower for your chainsaw! How is everything going? Just reply with any questions. Reply STOP to opt out.")
    }
}
