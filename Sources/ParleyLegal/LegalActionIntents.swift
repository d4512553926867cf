import Foundation
import ParleyAgent
import ParleyCore

// The legal pack's intents for acting on one case (documents, drafts, closing, upload links), for
// the firm's list of cases, and for carrying a request across a "which client?" question.

/// "mark Jane Doe's Photo ID as received", "reject his W2 because it is the 2022 form".
struct UpdateDocumentIntent: OfflineIntent {
    let name = "update_document"
    let summary = "Mark a client's document received, accepted or rejected (with the reason)"
    let examples = ["Mark Jane Doe's Photo ID as received"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard let status = r.documentStatus, !r.closing, !r.uploadLink else { return nil }
        let document = r.document
        guard document != nil || r.has(["mark", "set"]) else { return nil }
        var e = r.ref
        e["document_status"] = status
        e["document"] = document
        if status == "rejected" { e["reason"] = r.reason }
        return IntentMatch(score: 0.95, entities: e)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        let status = turn.entities["document_status"] ?? "received"
        guard let said = turn.entities["document"] else {
            return .answer("\(LegalIntents.whichDocument) should I mark as \(status)? Give me its name, for example \"W2\".")
        }
        guard let ref = LegalIntents.CaseRef(turn.entities) else {
            return .answer("Whose \(said) should I mark as \(status)? \(LegalIntents.askForClient)")
        }
        if let updated = turn.latest("update_document_status") {
            if updated.isError { return .answer("I could not update \(said): \(LegalIntents.error(updated))") }
            let detail = turn.latest("get_case_details")?.output ?? .null
            let name = updated.output["document_name"]?.stringValue ?? said
            let who = "case #\(detail["case_number"]?.stringValue ?? "?") (\(detail["client_name"]?.stringValue ?? "the client"))"
            let id = updated.output["requested_doc_id"]?.stringValue
            let missing = LegalIntents.outstanding(detail).filter { $0["requested_doc_id"]?.stringValue != id }.compactMap { $0["document_name"]?.stringValue }
                + (["requested", "rejected"].contains(status) ? [name] : [])
            let rest = missing.isEmpty ? "Nothing else is outstanding." : "Still missing: \(missing.joined(separator: ", "))."
            let note = updated.output["notes"]?.stringValue.map { " Noted: \"\($0)\"; the next reminder asks for a new copy." } ?? ""
            return .answer("Marked \(name) as \(status) on \(who).\(status == "rejected" ? note : "") \(rest)")
        }
        switch LegalIntents.resolve(ref, turn, purpose: "update \(said)") {
        case .step(let step): return step
        case .detail(let d):
            let docs = d["requested_documents"]?.arrayValue ?? []
            let found = LegalLanguage.documents(matching: said, in: docs)
            let number = d["case_number"]?.stringValue ?? "?"
            guard found.count == 1, let doc = found.first, let id = doc["requested_doc_id"]?.stringValue else {
                let names = docs.compactMap { $0["document_name"]?.stringValue }
                let listed = names.isEmpty ? "it requests no documents" : "it requests: \(names.joined(separator: ", "))"
                return .answer(found.isEmpty
                    ? "Case #\(number) has no document called \"\(said)\"; \(listed). \(LegalIntents.whichDocument) do you mean?"
                    : "Several documents of case #\(number) match \"\(said)\": \(found.compactMap { $0["document_name"]?.stringValue }.joined(separator: ", ")). \(LegalIntents.whichDocument) do you mean?")
            }
            var input: [String: JSONValue] = ["requested_doc_id": .string(id), "status": .string(status)]
            if status == "rejected", let reason = turn.entities["reason"] { input["notes"] = .string(reason) }
            return .callTools(thought: "Case #\(number)'s \(doc["document_name"]?.stringValue ?? said) becomes \(status).",
                              calls: [PlannedCall("update_document_status", .object(input))])
        }
    }
}

/// "draft a follow-up email for Jane Doe", "what would the reminder to Robert say?".
struct DraftReminderIntent: OfflineIntent {
    let name = "draft_reminder"
    let summary = "Show the reminder a client would get, without sending it"
    let examples = ["Draft a follow-up reminder for Jane Doe"]
    static let draftPrefix = "Draft of the "

    /// "send it" after a draft: the type drafted ("Draft of the urgent reminder for case #…").
    static func draftedType(_ answer: String?) -> String? {
        guard let answer, answer.hasPrefix(draftPrefix) else { return nil }
        let type = answer.dropFirst(draftPrefix.count).prefix { $0 != "\n" }.components(separatedBy: " for case #").first ?? ""
        let raw = type.replacingOccurrences(of: " ", with: "_")
        return ["initial_reminder", "follow_up_reminder", "urgent_reminder"].contains(raw) ? raw : nil
    }

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard r.drafting, r.reminderWords || r.has(["email", "reminder", "message", "note"]) || r.sendVerb, !r.uploadLink else { return nil }
        var e = r.ref
        e["email_type"] = LegalIntents.emailType(u)
        return IntentMatch(score: 0.965, entities: e)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let ref = LegalIntents.CaseRef(turn.entities) else { return .answer("Whose reminder should I draft? \(LegalIntents.askForClient)") }
        if let composed = turn.latest("compose_email") {
            if composed.isError { return .answer("I could not write the reminder: \(LegalIntents.error(composed))") }
            let number = turn.latest("get_case_details")?.output["case_number"]?.stringValue ?? "?"
            let type = (composed.output["email_type"]?.stringValue ?? "reminder").replacingOccurrences(of: "_", with: " ")
            return .answer("""
                \(Self.draftPrefix)\(type) for case #\(number), not sent:
                To: \(composed.output["recipient"]?.stringValue ?? "?")
                Subject: \(composed.output["subject"]?.stringValue ?? "")

                \(composed.output["body"]?.stringValue ?? "")

                Say "send it" to send it (you will be asked to approve).
                """)
        }
        switch LegalIntents.resolve(ref, turn, purpose: "draft the reminder") {
        case .step(let step): return step
        case .detail(let d):
            guard let id = d["case_id"]?.stringValue else { return .answer("That case has no id.") }
            if LegalIntents.outstanding(d).isEmpty {
                return .answer("Case #\(d["case_number"]?.stringValue ?? "?") (\(d["client_name"]?.stringValue ?? "the client")) has nothing outstanding, so there is nothing to remind about.")
            }
            let type = turn.entities["email_type"] ?? ((d["communications"]?.arrayValue ?? []).isEmpty ? "initial_reminder" : "follow_up_reminder")
            return .callTools(thought: "I will write the \(type.replacingOccurrences(of: "_", with: " ")) from the firm's template, without sending it.",
                              calls: [PlannedCall("compose_email", ["case_id": .string(id), "email_type": .string(type)])])
        }
    }
}

/// "how many open cases do we have?", "show me all cases missing documents", "list closed cases".
struct ListCasesIntent: OfflineIntent {
    let name = "list_cases"
    let summary = "Count or list the firm's cases (open, closed, or missing documents)"
    let examples = ["How many open cases do we have?"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard r.pluralCases || (r.counting && r.has(["open", "closed", "active", "case", "matter"])), r.name == nil, r.caseNumber == nil, !r.closing || r.has(["closed"]),
              !r.sendVerb || r.has(["show", "list"]),
              // "find the case for …": one case, whatever words follow.
              !(r.has(["case", "file", "matter"]) && r.has(["find", "look", "lookup", "search", "locate", "status"])) else { return nil }
        var e: [String: String] = [:]
        if r.counting { e["count"] = "true" }
        if r.missingWords || r.has(["missing", "outstanding"]) { e["missing"] = "true" }
        if r.has(["closed", "archived"]) { e["status"] = "CLOSED" }
        return IntentMatch(score: 0.955, entities: e)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        let status = turn.entities["status"] ?? "OPEN"
        let missing = turn.entities["missing"] == "true"
        guard let listed = turn.latest("list_cases") else {
            var input: [String: JSONValue] = ["status": .string(status), "limit": 10]
            if missing { input["missing_documents"] = true }
            return .callTools(thought: "I will \(turn.entities["count"] == "true" ? "count" : "list") the \(status.lowercased()) cases\(missing ? " still missing documents" : "").",
                              calls: [PlannedCall("list_cases", .object(input))])
        }
        if listed.isError { return .answer("I could not list the cases: \(LegalIntents.error(listed))") }
        let total = listed.output["total"]?.intValue ?? 0
        let cases = listed.output["cases"]?.arrayValue ?? []
        let what = "\(status.lowercased()) case\(total == 1 ? "" : "s")\(missing ? " still missing documents" : "")"
        if total == 0 { return .answer("You have no \(what).") }
        let lines = cases.map { c in
            let n = c["outstanding_documents"]?.intValue ?? 0
            return "- #\(c["case_number"]?.stringValue ?? "?") \(c["client_name"]?.stringValue ?? "?")\(n > 0 ? " (\(n) document\(n == 1 ? "" : "s") outstanding)" : "")"
        }
        let head = "You have \(total) \(what)."
        if turn.entities["count"] == "true", cases.count < total { return .answer(head + " The most recent:\n" + lines.prefix(5).joined(separator: "\n")) }
        return .answer(head + (cases.count < total ? " The \(cases.count) most recent:" : "") + "\n" + lines.joined(separator: "\n"))
    }
}

/// "close the case for Maria Garcia", "archive the O'Brien matter", "close this case".
struct CloseCaseIntent: OfflineIntent {
    let name = "close_case"
    let summary = "Close a client's case (asks for approval; reminders and the upload link stop)"
    let examples = ["Close the case for Maria Garcia"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard r.closing, !(r.pluralCases && r.has(["show", "list", "which", "how", "many"])) else { return nil }
        return IntentMatch(score: 0.95, entities: r.ref)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let ref = LegalIntents.CaseRef(turn.entities) else { return .answer("Which case should I close? \(LegalIntents.askForClient)") }
        if let closed = turn.latest("close_case") {
            if closed.isError { return .answer("The case was not closed: \(LegalIntents.error(closed))") }
            return .answer("Closed case #\(closed.output["case_number"]?.stringValue ?? "?") (\(closed.output["client_name"]?.stringValue ?? "the client")). No more reminders go out for it and its upload link stops working.")
        }
        switch LegalIntents.resolve(ref, turn, purpose: "close it") {
        case .step(let step): return step
        case .detail(let d):
            let number = d["case_number"]?.stringValue ?? "?"
            guard d["status"]?.stringValue != "CLOSED" else { return .answer("Case #\(number) (\(d["client_name"]?.stringValue ?? "the client")) is already closed.") }
            guard let id = d["case_id"]?.stringValue else { return .answer("That case has no id.") }
            let missing = LegalIntents.outstanding(d).compactMap { $0["document_name"]?.stringValue }
            let warning = missing.isEmpty ? "" : " It still lists \(missing.joined(separator: ", ")) as outstanding."
            return .callTools(thought: "I will close case #\(number) (\(d["client_name"]?.stringValue ?? "the client")).\(warning)",
                              calls: [PlannedCall("close_case", ["case_id": .string(id), "case_number": .string(number)])])
        }
    }
}

/// "get me Jane Doe's upload link", "where can she upload her documents?".
struct UploadLinkIntent: OfflineIntent {
    let name = "upload_link"
    let summary = "Give a client's personal upload link"
    let examples = ["What's the upload link for Jane Doe?"]

    func match(_ u: Utterance) -> IntentMatch? {
        let r = LegalReading(u)
        guard r.uploadLink else { return nil }
        return IntentMatch(score: 0.97, entities: r.ref)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        guard let ref = LegalIntents.CaseRef(turn.entities) else { return .answer("Whose upload link do you need? \(LegalIntents.askForClient)") }
        if let link = turn.latest("get_upload_link") {
            if link.isError { return .answer("I could not make the upload link: \(LegalIntents.error(link))") }
            return .answer("Upload link for \(link.output["client_name"]?.stringValue ?? "the client") (case #\(link.output["case_number"]?.stringValue ?? "?")), valid until \(link.output["expires_at"]?.stringValue?.prefix(10) ?? "?"):\n\(link.output["url"]?.stringValue ?? "")")
        }
        switch LegalIntents.resolve(ref, turn, purpose: "give its upload link") {
        case .step(let step): return step
        case .detail(let d):
            guard let id = d["case_id"]?.stringValue else { return .answer("That case has no id.") }
            return .callTools(thought: "I will get the personal upload link of case #\(d["case_number"]?.stringValue ?? "?").",
                              calls: [PlannedCall("get_upload_link", ["case_id": .string(id)])])
        }
    }
}

/// The reply to "which client?" — a name, a case number or "the second one" — continues the request
/// that asked, with everything else it said ("Email Jane a reminder" → "Jane Doe" → the reminder).
struct ContinueRequestIntent: OfflineIntent {
    let name = "select_case"
    let summary = "Answer which client a request is about"
    let examples: [String] = []

    static let ordinals = ["first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5]
    static let filler: Set<String> = ["the", "one", "please", "pls", "i", "mean", "meant", "yes", "number", "case", "client", "oh", "sorry", "it's",
                                      "its", "it", "is", "that", "no", "s", "ok", "okay", "thanks", "#"]

    static func isQuestion(_ answer: String?) -> Bool {
        guard let answer else { return false }
        return answer.contains(LegalIntents.whichOne) || answer.contains(LegalIntents.askForClient) || answer.contains(LegalIntents.whichDocument)
    }

    /// A bare choice: a case number, an ordinal, or name words only; or a document's name.
    static func choice(_ u: Utterance, after question: String) -> [String: String]? {
        if question.contains(LegalIntents.whichDocument) {
            let r = LegalReading(u)
            guard (1...6).contains(u.words.count), r.documentStatus == nil, !r.sendVerb, !r.closing else { return nil }
            var document = u.text.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: "\"'.!?")))
            for article in ["the ", "a ", "an ", "her ", "his ", "their "] where document.lowercased().hasPrefix(article) { document = String(document.dropFirst(article.count)) }
            return document.isEmpty ? nil : ["document": document]
        }
        if let number = LegalIntents.caseNumbers(in: u.text).first { return ["case_number": number] }
        let rest = u.words.filter { !filler.contains($0) }
        if question.contains(LegalIntents.whichOne), rest.count <= 2, let index = u.words.compactMap({ ordinals[$0] ?? Int($0) }).first {
            let listed = LegalIntents.caseNumbers(in: question)
            // The last number listed is the example in "Reply with the case number (for example #…)".
            if index >= 1, index <= listed.count - 1 { return ["case_number": listed[index - 1]] }
            return nil
        }
        guard let name = LegalLanguage.name(in: u.text), !rest.isEmpty, rest.count <= 5 else { return nil }
        let nameWords = Set(name.lowercased().split { c in !c.isLetter && !c.isNumber && c != "-" }.map(String.init))
        guard rest.allSatisfy({ w in nameWords.contains(w) || w.count <= 1 }) else { return nil }
        return ["client_name": name]
    }

    /// The request a run of questions and choices started from, with the conversation before it.
    static func origin(_ history: [PriorMessage]) -> Utterance? {
        var end = history.count
        while end > 0 {
            guard let userIndex = history[..<end].lastIndex(where: { $0.role == .user }) else { return nil }
            let before = Array(history[..<userIndex])
            let message = Utterance(history[userIndex].text, history: before)
            if let question = message.lastAnswer, isQuestion(question), choice(message, after: question) != nil {
                end = userIndex  // itself a choice: look further back
                continue
            }
            return message
        }
        return nil
    }

    func match(_ u: Utterance) -> IntentMatch? {
        guard let question = u.lastAnswer, Self.isQuestion(question), let picked = Self.choice(u, after: question),
              let origin = Self.origin(u.history) else { return nil }
        let intents = LegalIntents.all.filter { !($0 is ContinueRequestIntent) && !($0 is CreateCaseIntent) && !($0 is ContinueCreateCaseIntent) }
        guard let (intent, m) = intents.compactMap({ i in i.match(origin).map { (i, $0) } }).max(by: { $0.1.score < $1.1.score }) else { return nil }
        var entities = m.entities
        if picked["document"] == nil {
            entities["client_name"] = nil
            entities["case_number"] = nil
        }
        entities.merge(picked) { $1 }
        entities["intent"] = intent.name
        return IntentMatch(score: 0.93, entities: entities)
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        let target: any OfflineIntent = LegalIntents.all.first { $0.name == turn.entities["intent"] && !($0 is ContinueRequestIntent) } ?? FindCaseIntent()
        return target.next(turn)
    }
}
