import Foundation
import ParleyAgent
import ParleyCore

// Offline-planner intents of the legal pack. Each plans the same tool calls a model would; the
// conversation so far (`Utterance.history`) supplies context: the case under discussion is the
// last `#<case number>` an answer mentioned, and a create-case question is continued by the reply.

enum LegalIntents {
    static var all: [any OfflineIntent] {
        [FindCaseIntent(), MissingDocumentsIntent(), CreateCaseIntent(), ContinueCreateCaseIntent(), SendReminderIntent(),
         PendingRemindersIntent(), UpdateDocumentIntent(), DraftReminderIntent(), ListCasesIntent(), CloseCaseIntent(), UploadLinkIntent(),
         ContinueRequestIntent()]
    }

    // MARK: text helpers

    static func matches(_ pattern: String, in text: String) -> [[String]] {
        guard let re = try? NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) else { return [] }
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { m in
            (0..<m.numberOfRanges).map { i in m.range(at: i).location == NSNotFound ? "" : ns.substring(with: m.range(at: i)) }
        }
    }

    static func first(_ pattern: String, in text: String, group: Int = 1) -> String? {
        matches(pattern, in: text).first.flatMap { $0.count > group ? $0[group] : nil }.flatMap { $0.isEmpty ? nil : $0 }
    }

    static let emailPattern = #"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"#
    static let phonePattern = #"\+?\(?\d[\d\s().\-]{6,}\d"#
    static let caseNumberPattern = #"#([A-Za-z0-9][A-Za-z0-9\-]{0,39})|\b(\d{4}-\d{5})\b|\b([A-Za-z]{2,10}-\d{3,10})\b"#

    static func caseNumbers(in text: String) -> [String] {
        matches(caseNumberPattern, in: text).compactMap { m in m.dropFirst().first { !$0.isEmpty } }
    }

    /// Every question that asks for the client ends with this, so the reply continues the request.
    static let askForClient = "Give me the client's name or case number."
    static let whichOne = "Which one do you mean?"
    static let whichDocument = "Which document"

    /// The case the conversation is about: the last case number an answer mentioned.
    static func caseUnderDiscussion(_ history: [PriorMessage]) -> String? {
        for message in history.reversed() where message.role == .assistant {
            // An open "which one?" question names several people: none is under discussion.
            if message.text.contains(whichOne) { return nil }
            let numbers = Set(caseNumbers(in: message.text))
            if numbers.count > 1 { return nil }
            if let number = numbers.first { return number }
        }
        return nil
    }

    // MARK: answers

    static func line(_ c: JSONValue) -> String {
        var details: [String] = []
        if let e = c["client_email"]?.stringValue { details.append(e) }
        if let p = c["client_phone"]?.stringValue { details.append(p) }
        if let d = c["created_at"]?.stringValue { details.append("opened \(d.prefix(10))") }
        return "#\(c["case_number"]?.stringValue ?? "?") \(c["client_name"]?.stringValue ?? "?") (\(details.joined(separator: ", ")))"
    }

    static func outstanding(_ detail: JSONValue) -> [JSONValue] {
        (detail["requested_documents"]?.arrayValue ?? []).filter { ["requested", "rejected"].contains($0["status"]?.stringValue ?? "") }
    }

    static func describe(_ detail: JSONValue) -> String {
        let docs = detail["requested_documents"]?.arrayValue ?? []
        let missing = outstanding(detail)
        var lines = ["Case \(line(detail)), \(detail["status"]?.stringValue?.lowercased() ?? "open")."]
        if docs.isEmpty {
            lines.append("No documents are requested.")
        } else if missing.isEmpty {
            lines.append("Nothing is outstanding: all \(docs.count) requested document\(docs.count == 1 ? " has" : "s have") arrived.")
        } else {
            lines.append("Still missing: " + missing.map { d in
                let name = d["document_name"]?.stringValue ?? "?"
                return d["status"]?.stringValue == "rejected" ? "\(name) (rejected, needs a new copy)" : name
            }.joined(separator: ", ") + ".")
        }
        let done = docs.filter { !["requested", "rejected"].contains($0["status"]?.stringValue ?? "") }
        if !done.isEmpty {
            lines.append("Received: " + done.map { "\($0["document_name"]?.stringValue ?? "?") (\($0["status"]?.stringValue ?? ""))" }.joined(separator: ", ") + ".")
        }
        if let last = detail["communications"]?.arrayValue?.last {
            lines.append("Last email: \(last["email_type"]?.stringValue ?? "email") on \(last["sent_at"]?.stringValue?.prefix(10) ?? "?") (\(last["delivery_status"]?.stringValue ?? "unknown")).")
        }
        return lines.joined(separator: "\n")
    }

    static func error(_ o: ToolObservation) -> String {
        let text = o.output.stringValue ?? o.output.serialized()
        return text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text
    }

    // MARK: shared flows

    enum CaseRef: Equatable {
        case name(String), number(String)
        var entities: [String: String] {
            switch self {
            case .name(let n): ["client_name": n]
            case .number(let n): ["case_number": n]
            }
        }
        init?(_ entities: [String: String]) {
            if let n = entities["case_number"] { self = .number(n) } else if let n = entities["client_name"] { self = .name(n) } else { return nil }
        }
    }

    enum Resolution { case step(PlannerStep), detail(JSONValue) }

    /// Finds the case a request is about: by number, or by name (asking when several clients match).
    static func resolve(_ ref: CaseRef, _ turn: PlannerTurn, purpose: String) -> Resolution {
        if let details = turn.latest("get_case_details") {
            if details.isError { return .step(.answer("I could not open that case: \(error(details))")) }
            return .detail(details.output)
        }
        switch ref {
        case .number(let number):
            return .step(.callTools(thought: "The user means case #\(number); I will open it to \(purpose).",
                                    calls: [PlannedCall("get_case_details", ["case_number": .string(number)])]))
        case .name(let name):
            guard let found = turn.latest("lookup_case_by_name") else {
                return .step(.callTools(thought: "First I find \(name)'s case by name (tolerating typos and nicknames) to \(purpose).",
                                        calls: [PlannedCall("lookup_case_by_name", ["client_name": .string(name)])]))
            }
            if found.isError { return .step(.answer("I could not search the cases: \(error(found))")) }
            let matches = found.output["matches"]?.arrayValue ?? []
            guard let top = matches.first else {
                return .step(.answer("I found no open case for \(name). Check the spelling, or create one (\"create a case for \(name), email, documents\"). \(askForClient)"))
            }
            if found.output["ambiguous"]?.boolValue == true {
                let list = matches.prefix(5).enumerated().map { "\($0.offset + 1). \(line($0.element))" }.joined(separator: "\n")
                return .step(.answer("Several clients match \"\(name)\":\n\(list)\n\(whichOne) Reply with the case number (for example #\(top["case_number"]?.stringValue ?? "")) so I do not act on the wrong person."))
            }
            guard let id = top["case_id"]?.stringValue else { return .step(.answer("The search returned a case without an id.")) }
            return .step(.callTools(thought: "The match is \(top["client_name"]?.stringValue ?? name) (case #\(top["case_number"]?.stringValue ?? "")); I will open the case.",
                                    calls: [PlannedCall("get_case_details", ["case_id": .string(id)])]))
        }
    }

    /// Composes the reminder from the firm's template, then sends it (which may wait for approval).
    static func sendReminder(_ detail: JSONValue, type: String, _ turn: PlannerTurn) -> PlannerStep {
        guard let caseID = detail["case_id"]?.stringValue else { return .answer("That case has no id.") }
        let number = detail["case_number"]?.stringValue ?? "?"
        let client = detail["client_name"]?.stringValue ?? "the client"
        if outstanding(detail).isEmpty {
            return .answer("Case #\(number) (\(client)) has nothing outstanding, so there is nothing to remind about.")
        }
        guard let composed = turn.latest("compose_email") else {
            return .callTools(thought: "I will write the \(type.replacingOccurrences(of: "_", with: " ")) for case #\(number) from the firm's template.",
                              calls: [PlannedCall("compose_email", ["case_id": .string(caseID), "email_type": .string(type)])])
        }
        if composed.isError { return .answer("I could not write the reminder for case #\(number): \(error(composed))") }
        guard let sent = turn.latest("send_email") else {
            return .callTools(thought: "The email lists exactly the outstanding documents; I will send it to \(client)'s address on record.",
                              calls: [PlannedCall("send_email", ["case_id": .string(caseID), "email_type": .string(type),
                                                                 "recipient_email": composed.output["recipient"] ?? .null,
                                                                 "subject": composed.output["subject"] ?? .null, "body": composed.output["body"] ?? .null])])
        }
        if sent.isError { return .answer("The reminder for case #\(number) was not sent: \(error(sent))") }
        let docs = (composed.output["documents"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ")
        let to = sent.output["recipient"]?.stringValue ?? "the address on record"
        if sent.output["already_sent_today"]?.boolValue == true {
            return .answer("A \(type.replacingOccurrences(of: "_", with: " ")) already went to \(client) at \(to) today for case #\(number); I did not send another.")
        }
        if sent.output["status"]?.stringValue == "held_for_quiet_hours" {
            let at = sent.output["scheduled_local_time"]?.stringValue ?? "the end of quiet hours"
            let zone = sent.output["time_zone"]?.stringValue.map { " (\($0))" } ?? ""
            return .answer("Queued, not sent yet: the \(type.replacingOccurrences(of: "_", with: " ")) to \(client) at \(to) for case #\(number) goes out at \(at) the firm's time\(zone), outside quiet hours. It asks for: \(docs), with their personal upload link.")
        }
        return .answer("Sent the \(type.replacingOccurrences(of: "_", with: " ")) to \(client) at \(to) for case #\(number), asking for: \(docs). It includes their personal upload link.")
    }

    static func emailType(_ u: Utterance) -> String? {
        if u.hasAny(["urgent", "overdue", "final", "last"]) { return "urgent_reminder" }
        if u.contains("follow-up") || u.contains("follow up") || u.contains("followup") || u.has("another") || u.has("second") { return "follow_up_reminder" }
        if u.hasAny(["initial", "first"]) { return "initial_reminder" }
        return nil
    }
}

/// "Find the case for Bob Smyth", "look up Jon Smtih", "Smith, John's case".
struct FindCaseIntent: OfflineIntent {
    let name = "find_case"
    let summary = "Find a client's case by name, despite typos and nicknames"
    let examples = ["Find the case for Bob Smyth"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        let cue = r.has(["find", "look", "lookup", "search", "locate", "pull", "show", "open", "status", "details", "detail", "info", "information",
                         "update", "check", "file", "case", "matter", "where", "stand", "going", "happening", "about", "progress"])
        guard cue, r.ref["client_name"] != nil || r.caseNumber != nil || r.has(["find", "look", "lookup", "search", "status", "case", "file", "details"])
        else { return nil }
        return IntentMatch(score: 0.8, entities: r.ref)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let ref = LegalIntents.CaseRef(turn.entities) else { return .answer("Whose case should I find? \(LegalIntents.askForClient)") }
        switch LegalIntents.resolve(ref, turn, purpose: "show it") {
        case .step(let step): return step
        case .detail(let d): return .answer(LegalIntents.describe(d))
        }
    }
}

/// "What is Jane Doe still missing?", "what does Bob owe us", "outstanding documents for Maria".
struct MissingDocumentsIntent: OfflineIntent {
    let name = "missing_documents"
    let summary = "Say which documents a client still has to provide"
    let examples = ["What is Jane Doe still missing?"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard r.missingWords, !r.has(["create", "new"]) else { return nil }
        return IntentMatch(score: 0.92, entities: r.ref)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let ref = LegalIntents.CaseRef(turn.entities) else { return .answer("Whose documents should I check? \(LegalIntents.askForClient)") }
        switch LegalIntents.resolve(ref, turn, purpose: "see what is still missing") {
        case .step(let step): return step
        case .detail(let d):
            let missing = LegalIntents.outstanding(d)
            let client = d["client_name"]?.stringValue ?? "The client"
            let number = d["case_number"]?.stringValue ?? "?"
            if missing.isEmpty { return .answer("\(client) (case #\(number)) is not missing anything: every requested document has arrived.") }
            let list = missing.map { "- \($0["document_name"]?.stringValue ?? "?")\($0["status"]?.stringValue == "rejected" ? " (the copy sent was rejected)" : "")" }
            return .answer("\(client) (case #\(number)) still has to provide \(missing.count) document\(missing.count == 1 ? "" : "s"):\n" + list.joined(separator: "\n"))
        }
    }
}

/// The fields of a case being created, gathered from one or several user messages.
struct CaseDraft: Equatable {
    var name: String?
    var email: String?
    var phone: String?
    var documents: [String] = []

    var missing: [String] {
        var out: [String] = []
        if name == nil { out.append("the client's name") }
        if email == nil { out.append("the client's email address") }
        if documents.isEmpty { out.append("the documents to request") }
        return out
    }

    static let documentMarkers = [" needs ", " need ", " requesting ", " request ", " requires ", " documents: ", " documents ", " docs: ",
                                  " docs ", " for documents ", " asking for ", " wants ", " missing "]

    /// "Create a case for Maria Garcia, maria@example.com, 555-123-4567, needs W2 and 2023 tax return".
    static func parse(command text: String) -> CaseDraft {
        var d = CaseDraft()
        d.email = LegalIntents.first("(\(LegalIntents.emailPattern))", in: text)
        d.phone = LegalIntents.first("(\(LegalIntents.phonePattern))", in: text)
        let lowered = " " + text.lowercased()
        var docsText: String?
        for marker in documentMarkers {
            if let r = lowered.range(of: marker) {
                let offset = lowered.distance(from: lowered.startIndex, to: r.upperBound) - 1
                docsText = String(text.dropFirst(offset))
                break
            }
        }
        if let docsText { d.documents = documents(in: docsText) }
        if let after = LegalIntents.first(#"(?:case|matter|file) (?:for|of) (.+)"#, in: text) {
            var name = after
            for stop in [",", ";", " with ", " needs ", " need ", " requesting ", " requires ", " email", " phone", " (", " at ", " -"] {
                if let r = name.range(of: stop, options: .caseInsensitive) { name = String(name[..<r.lowerBound]) }
            }
            if let email = d.email { name = name.replacingOccurrences(of: email, with: "") }
            d.name = LegalLanguage.name(in: name)
        }
        if d.name == nil {
            // "new case: Priya Patel, priya@example.com, …": the name-like words before the details.
            let head = d.email.flatMap { e in text.range(of: e).map { String(text[..<$0.lowerBound]) } } ?? text
            d.name = LegalLanguage.name(in: head)
        }
        return d
    }

    /// A reply to "which documents / what email": fills what it carries.
    mutating func merge(reply text: String) {
        var rest = text
        if let email = LegalIntents.first("(\(LegalIntents.emailPattern))", in: text) {
            self.email = email
            rest = rest.replacingOccurrences(of: email, with: " ")
        }
        if let phone = LegalIntents.first("(\(LegalIntents.phonePattern))", in: rest), phone.filter(\.isNumber).count >= 7 {
            self.phone = phone
            rest = rest.replacingOccurrences(of: phone, with: " ")
        }
        for filler in ["email is", "email:", "email", "phone is", "phone:", "phone", "her ", "his ", "their "] {
            rest = rest.replacingOccurrences(of: filler, with: " ", options: .caseInsensitive)
        }
        let trimmed = rest.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: ",;.")))
        guard !trimmed.isEmpty else { return }
        if name == nil {
            name = LegalLanguage.name(in: trimmed)
        } else if documents.isEmpty {
            documents = Self.documents(in: trimmed)
        }
    }

    static func documents(in text: String) -> [String] {
        var t = text
        for prefix in ["needs", "need", "they need", "she needs", "he needs", "documents:", "documents", "docs:", "docs", "requesting", "request", "the", ":"] {
            let trimmed = t.trimmingCharacters(in: .whitespaces)
            if trimmed.lowercased().hasPrefix(prefix + " ") || trimmed.lowercased() == prefix { t = String(trimmed.dropFirst(prefix.count)) }
        }
        return CaseInputList.split(t)
    }
}

enum CaseInputList {
    static func split(_ text: String) -> [String] { CaseInput.splitList(text) }
}

/// "Create a case for Maria Garcia, maria@example.com, 555-123-4567, needs W2 and 2023 tax return".
struct CreateCaseIntent: OfflineIntent {
    let name = "create_case"
    let summary = "Create a case with the documents to request from the client"
    let examples = ["Create a case for Maria Garcia, maria@example.com, 555-123-4567, needs W2 and 2023 tax return"]

    func match(_ u: Utterance) -> IntentMatch? {
        guard u.hasAny(["case", "matter", "client", "file", "intake"]), u.hasAny(["create", "new", "add", "start", "setup", "intake"]) || u.contains("set up")
                || (u.has("open") && LegalIntents.caseNumbers(in: u.text).isEmpty && LegalIntents.first("(\(LegalIntents.emailPattern))", in: u.text) != nil),
              !u.hasAny(["find", "reminder", "close", "upload"]) else { return nil }
        return IntentMatch(score: 0.95, entities: CreateCaseIntent.entities(CaseDraft.parse(command: u.text)))
    }

    static func entities(_ d: CaseDraft) -> [String: String] {
        var e: [String: String] = [:]
        e["client_name"] = d.name
        e["client_email"] = d.email
        e["client_phone"] = d.phone
        if !d.documents.isEmpty { e["documents"] = d.documents.joined(separator: "\u{1F}") }
        return e
    }

    static func draft(_ e: [String: String]) -> CaseDraft {
        CaseDraft(name: e["client_name"], email: e["client_email"], phone: e["client_phone"],
                  documents: e["documents"].map { $0.components(separatedBy: "\u{1F}") } ?? [])
    }

    static let question = "To create the case"

    func next(_ turn: PlannerTurn) -> PlannerStep { Self.plan(Self.draft(turn.entities), turn) }

    static func plan(_ d: CaseDraft, _ turn: PlannerTurn) -> PlannerStep {
        if let created = turn.latest("create_case") {
            if created.isError { return .answer("\(question) for \(d.name ?? "the client") I need valid details: \(LegalIntents.error(created)) Please send them again.") }
            let docs = (created.output["requested_documents"]?.arrayValue ?? []).compactMap { $0["document_name"]?.stringValue }
            return .answer("Created case #\(created.output["case_number"]?.stringValue ?? "?") for \(created.output["client_name"]?.stringValue ?? "the client") (\(created.output["client_email"]?.stringValue ?? "")), requesting: \(docs.joined(separator: ", ")). Say \"send the initial reminder\" to email the client their list and upload link.")
        }
        let missing = d.missing
        guard missing.isEmpty, let name = d.name, let email = d.email else {
            let who = d.name.map { " for \($0)" } ?? ""
            if missing == ["the documents to request"] {
                return .answer("\(question)\(who), which documents should I request? (For example: \"W2 and 1099\".)")
            }
            return .answer("\(question)\(who) I still need \(missing.joined(separator: " and ")). Which documents should I request, and what is the email address?")
        }
        var input: [String: JSONValue] = ["client_name": .string(name), "client_email": .string(email),
                                          "requested_documents": .array(d.documents.map { .string($0) })]
        if let phone = d.phone { input["client_phone"] = .string(phone) }
        return .callTools(thought: "I have the client's name, email and the documents (\(d.documents.joined(separator: ", "))); I will create the case.",
                          calls: [PlannedCall("create_case", .object(input))])
    }
}

/// The reply to a create-case question: "W2 and 1099", "jane@example.com".
struct ContinueCreateCaseIntent: OfflineIntent {
    let name = "create_case_follow_up"
    let summary = "Complete a case being created"
    let examples: [String] = []

    func match(_ u: Utterance) -> IntentMatch? {
        guard let last = u.lastAnswer, last.hasPrefix(CreateCaseIntent.question),
              !u.hasAny(["find", "send", "remind", "which", "list", "show", "look", "search", "cancel", "never"]) else { return nil }
        // The draft is the create command and every reply since.
        var replies: [String] = []
        var draft: CaseDraft?
        for m in u.history.reversed() where m.role == .user {
            let mu = Utterance(m.text)
            if CreateCaseIntent().match(mu) != nil {
                draft = CaseDraft.parse(command: m.text)
                break
            }
            replies.insert(m.text, at: 0)
        }
        guard var d = draft else { return nil }
        for r in replies + [u.text] { d.merge(reply: r) }
        return IntentMatch(score: 0.97, entities: CreateCaseIntent.entities(d))
    }

    func next(_ turn: PlannerTurn) -> PlannerStep { CreateCaseIntent.plan(CreateCaseIntent.draft(turn.entities), turn) }
}

/// "Send Maria a follow-up reminder", "send her a reminder", "remind Bob Smith".
struct SendReminderIntent: OfflineIntent {
    let name = "send_reminder"
    let summary = "Email a client a reminder listing their outstanding documents (asks for approval)"
    let examples = ["Send Maria a follow-up reminder"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard r.sendVerb, !r.has(["which", "list"]) || r.has(["send"]) else { return nil }
        var e = r.ref
        e["email_type"] = LegalIntents.emailType(u) ?? DraftReminderIntent.draftedType(u.lastAnswer)
        if let address = LegalIntents.first("(\(LegalIntents.emailPattern))", in: u.text) { e["other_address"] = address }
        return IntentMatch(score: 0.95, entities: e)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        if let other = turn.entities["other_address"] {
            // Never plan a send to an address from the conversation; the tool would refuse it too.
            return .answer("I can't send to \(other). Client emails go only to the address on record for the case; if the client's address has changed, update the case first (PATCH /v1/cases/{id}) and then ask again.")
        }
        guard let ref = LegalIntents.CaseRef(turn.entities) else {
            return .answer("Which client should I remind? \(LegalIntents.askForClient)")
        }
        switch LegalIntents.resolve(ref, turn, purpose: "send the reminder") {
        case .step(let step): return step
        case .detail(let d):
            let type = turn.entities["email_type"] ?? ((d["communications"]?.arrayValue ?? []).isEmpty ? "initial_reminder" : "follow_up_reminder")
            return LegalIntents.sendReminder(d, type: type, turn)
        }
    }
}

/// "Which cases need reminders?"
struct PendingRemindersIntent: OfflineIntent {
    let name = "pending_reminders"
    let summary = "List the cases whose clients are due a reminder"
    let examples = ["Which cases need reminders?"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard r.reminderWords || r.has(["due"]), r.has(["which", "who", "list", "show", "pending", "everyone", "anyone", "any", "clients", "cases", "due"]),
              !r.has(["send", "draft", "compose", "preview"]), r.name == nil, r.caseNumber == nil else { return nil }
        return IntentMatch(score: 0.96)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let result = turn.latest("list_pending_reminders") else {
            return .callTools(thought: "I will list the open cases whose outstanding documents are due a reminder.", calls: [PlannedCall("list_pending_reminders")])
        }
        if result.isError { return .answer("I could not list the pending reminders: \(LegalIntents.error(result))") }
        let cases = result.output["cases"]?.arrayValue ?? []
        if cases.isEmpty { return .answer("No case needs a reminder right now.") }
        let lines = cases.prefix(20).map { c in
            let docs = (c["outstanding_documents"]?.arrayValue ?? []).compactMap(\.stringValue)
            let type = (c["suggested_email_type"]?.stringValue ?? "").replacingOccurrences(of: "_", with: " ")
            return "- #\(c["case_number"]?.stringValue ?? "?") \(c["client_name"]?.stringValue ?? "?"): \(docs.joined(separator: ", ")) — \(type), \(days(c["days_without_progress"]?.intValue ?? 0)) without progress"
        }
        let more = cases.count > 20 ? "\n…and \(cases.count - 20) more." : ""
        return .answer("\(cases.count) case\(cases.count == 1 ? " needs" : "s need") a reminder:\n" + lines.joined(separator: "\n") + more)
    }
}

func days(_ n: Int) -> String { n == 1 ? "1 day" : "\(n) days" }
