import Foundation
import ParleyAgent
import ParleyCore

// How the offline planner reads a paralegal's message: which case it is about (a case number, a
// person's name, or "her"/"this case" meaning the case under discussion), which document, which
// status, and the words that say what to do. A name is only ever made of words that look like a
// name: never the domain's verbs, nouns or function words, so "how many open cases do we have"
// has no name in it, and a request without a name is answered with a question, not a guess.

struct LegalReading {
    let u: Utterance
    let words: Set<String>
    let caseNumber: String?
    let name: String?
    /// "her", "him", "this case", "it": the case the conversation is about, when there is one.
    let contextCase: String?

    init(_ u: Utterance) {
        self.u = u
        words = Set(u.words)
        caseNumber = LegalIntents.caseNumbers(in: u.text).first
        name = LegalLanguage.name(in: LegalLanguage.beforeReason(u.text))
        // "her", "this case", or no client named at all: the case the conversation is about.
        contextCase = LegalIntents.caseUnderDiscussion(u.history)
    }

    func has(_ list: Set<String>) -> Bool { !words.isDisjoint(with: list) }
    func says(_ phrases: [String]) -> Bool { phrases.contains { u.lowered.contains($0) } }

    /// The case the message is about, as entities: a number beats a name beats "her".
    var ref: [String: String] {
        if let caseNumber { return ["case_number": caseNumber] }
        if let name { return ["client_name": name] }
        if let contextCase { return ["case_number": contextCase] }
        return [:]
    }

    // MARK: what the message asks for

    var pluralCases: Bool { has(["cases", "matters", "files", "clients", "customers"]) }
    var counting: Bool { says(["how many", "number of"]) || has(["count", "total"]) }
    var reminderWords: Bool { has(["reminder", "reminders", "follow-up", "follow-ups", "followup", "followups", "nudge", "chase", "chasing", "overdue"]) || says(["follow up"]) }
    var sendVerb: Bool {
        has(["send", "email", "e-mail", "remind", "chase", "nudge", "ping", "shoot", "resend", "re-send", "mail"]) || says(["follow up with", "follow-up with"])
    }
    var drafting: Bool {
        has(["draft", "compose", "preview", "write"]) || says(["what would", "don't send", "dont send", "do not send", "before sending", "without sending", "before i send"])
    }
    var uploadLink: Bool { (has(["upload", "portal"]) && has(["link", "url", "portal", "where"])) || says(["upload link", "portal link"]) }
    var closing: Bool {
        has(["close", "archive", "closing"]) || says(["close out", "as closed", "to closed"]) || (has(["closed"]) && has(["mark", "set"]))
    }
    var missingWords: Bool {
        has(["missing", "outstanding", "owe", "owes", "owed", "waiting", "lacking", "yet", "uploaded", "everything"])
            || (has(["need", "needs", "needed"]) && has(["documents", "document", "docs", "paperwork", "send", "provide", "still", "from"]))
            || says(["hasn't sent", "haven't sent", "not sent", "sent everything", "still to send"])
    }

    /// The document status a message sets, if it sets one.
    var documentStatus: String? {
        if has(["reject", "rejected", "decline", "declined", "deny", "denied", "refuse", "refused"]) { return "rejected" }
        if has(["accept", "accepted", "approve", "approved", "verified", "verify"]) { return "accepted" }
        if has(["mark", "set"]) && has(["missing", "requested", "outstanding", "unreceived"]) { return "requested" }
        if has(["received", "receive", "arrived", "got", "came"]) || says([" are in", " is in", " came in"]) { return "received" }
        return nil
    }

    /// "mark Jane Doe's Photo ID as received" → "Photo ID".
    var document: String? { LegalLanguage.document(in: u.text, name: name) }

    /// "reject … because it is expired", "…: wrong year", "…, they're cut off".
    var reason: String? { LegalLanguage.reason(in: u.text) }
}

enum LegalLanguage {
    static let backReferences: Set<String> = ["her", "him", "his", "hers", "them", "their", "they", "she", "he", "it"]

    /// Words that are never part of a client's name in a request: function words and the domain's
    /// verbs and nouns (documents included).
    static let stopWords: Set<String> = Set("""
        a an the this that these those for of on in at to from with about regarding re by and or but as so if then than now today tonight \
        tomorrow yesterday again yet also just all any every each some our my your their his her hers him them they she he it its we us me \
        i you u ur who whom whose what whats which where when why how hows many much more most number total there here up out over off down \
        back right before after someone everyone anyone everybody anybody one ones first second third initial final urgent another last next \
        same other not no yes very really too via per called named name let lets go quick quickly asap please pls plz thanks thank thx ty \
        kindly hey hi hello ok okay yeah sure well also still already ever never maybe like know see say said tell do does did done doing is \
        are was were be been being has have had having can could would should will shall may might must want wants need needs needed \
        case cases matter matters file files client clients customer customers document documents doc docs paperwork papers reminder \
        reminders email emails e-mail mail message note notice follow-up follow-ups followup followups follow link url portal upload \
        uploads uploaded status details detail info information update updates progress everything anything something nothing missing \
        outstanding pending waiting lacking owe owes owed due overdue find look lookup search locate pull show open opened create new add \
        start set setup make close closed closing archive mark marked reject rejected decline declined deny denied refuse refused accept \
        accepted approve approved verified verify receive received got get gotten came come arrived arrive send sent sending resend remind \
        reminded chase chasing nudge ping shoot draft compose write preview give check list count provide provided submit submitted stand \
        going coming along happening help there's what's where's who's it's im i'm i'd i'll we're we've you're they're don't doesn't \
        didn't isn't hasn't haven't can't won't dont doesnt isnt hasnt havent cant wont id photo bank statement statements tax return \
        returns proof address lease agreement medical records record police report insurance policy pay stub stubs paystub paystubs \
        divorce decree birth certificate employment contract mortgage vehicle title settlement letter passport license licence form forms \
        copy copies scan signature page w-2 intake firm office team morning afternoon evening night week month year time weather \
        because since cause active current ongoing all right instead then
        """.split(separator: " ").map(String.init))

    struct Token {
        var text: String
        var afterComma: Bool
        var possessive: Bool
        var index: Int
    }

    /// Words of the message without e-mail addresses and case numbers, possessives marked.
    static func tokens(_ text: String) -> [Token] {
        var cleaned = text
        for pattern in [LegalIntents.emailPattern, LegalIntents.caseNumberPattern] {
            if let re = try? NSRegularExpression(pattern: pattern) {
                cleaned = re.stringByReplacingMatches(in: cleaned, range: NSRange(cleaned.startIndex..., in: cleaned), withTemplate: " ; ")
            }
        }
        var out: [Token] = []
        var current = ""
        var comma = false
        func flush() {
            var word = current.trimmingCharacters(in: CharacterSet(charactersIn: "'’-"))
            current = ""
            guard !word.isEmpty else { return }
            var possessive = false
            let lower = word.lowercased()
            if lower.count > 2, lower.hasSuffix("'s") || lower.hasSuffix("’s") {
                word = String(word.dropLast(2))
                possessive = true
            }
            out.append(Token(text: word, afterComma: comma, possessive: possessive, index: out.count))
            comma = false
        }
        for ch in cleaned {
            if ch.isLetter || ch.isNumber || ch == "'" || ch == "’" || ch == "-" || ch == "\u{2013}" {
                current.append(ch)
            } else {
                flush()
                if ch == "," {
                    comma = true
                } else if !ch.isWhitespace {
                    // Any other punctuation ends a name: a marker no name word follows.
                    out.append(Token(text: ";", afterComma: false, possessive: false, index: out.count))
                    comma = false
                }
            }
        }
        flush()
        return out
    }

    static func nameLike(_ t: Token) -> Bool {
        let lower = t.text.lowercased().replacingOccurrences(of: "’", with: "'")
        return t.text.contains(where: \.isLetter) && !t.text.contains(where: \.isNumber) && t.text.count <= 40
            && !stopWords.contains(lower) && !stopWords.contains(lower.replacingOccurrences(of: "'", with: ""))
    }

    /// The client's name in a request, or nil when no word of it looks like a name.
    static func name(in text: String) -> String? {
        let tokens = tokens(text)
        var runs: [[Token]] = []
        var run: [Token] = []
        for t in tokens {
            if nameLike(t) {
                // "Smith, John": a comma joins only a one-word surname and the given name after it.
                if t.afterComma, !(run.count == 1 && !run[0].possessive) { if !run.isEmpty { runs.append(run) }; run = [] }
                run.append(t)
                if t.possessive { runs.append(run); run = [] }
            } else {
                if !run.isEmpty { runs.append(run) }
                run = []
            }
        }
        if !run.isEmpty { runs.append(run) }
        runs = runs.filter { $0.count <= 5 }
        // A capitalised word after the first one marks a name in a sentence; otherwise the first run.
        let chosen = runs.first { run in run.contains { t in t.index > 0 && t.text.first?.isUppercase == true } } ?? runs.first
        guard let chosen else { return nil }
        var name = ""
        for t in chosen {
            if !name.isEmpty { name += t.afterComma ? ", " : " " }
            name += t.text
        }
        return name
    }

    static let documentEnds = [" for ", " from ", " as ", " is ", " are ", " was ", " were ", " came", " arrived", " has ", " have ", " to ",
                               ",", ":", ";", " because", " since", " - ", " — ", " received", " accepted", " rejected", " approved",
                               " today", " again", " please", " now", "?", "!", " on ", " by "]
    static let documentStarts = ["mark the ", "mark ", "set the ", "set ", "got the ", "got ", "received the ", "received ", "reject the ",
                                 "reject ", "rejected the ", "decline the ", "decline ", "accept the ", "accept ", "approve the ", "approve ",
                                 "the "]

    /// The document a status change is about: after the name's possessive ("Jane Doe's W2"), a
    /// possessive pronoun ("her W2") or the verb ("mark the W2"), up to the status or the next clause.
    static func document(in text: String, name: String?) -> String? {
        let lowered = text.lowercased().replacingOccurrences(of: "’", with: "'")
        var starts: [String.Index] = []
        if let name, let r = lowered.range(of: name.lowercased().replacingOccurrences(of: "’", with: "'") + "'s ") { starts.append(r.upperBound) }
        let padded = " " + lowered
        for marker in [" her ", " his ", " their "] {
            if let r = padded.range(of: marker) {
                starts.append(lowered.index(lowered.startIndex, offsetBy: padded.distance(from: padded.startIndex, to: r.upperBound) - 1))
            }
        }
        if lowered.hasPrefix("the ") { starts.append(lowered.index(lowered.startIndex, offsetBy: 4)) }
        for marker in documentStarts where marker != "the " {
            if let r = lowered.range(of: marker) { starts.append(r.upperBound) }
        }
        for start in starts {
            if let doc = document(in: text, lowered: lowered, from: start, name: name) { return doc }
        }
        return nil
    }

    static func document(in text: String, lowered: String, from start: String.Index, name: String?) -> String? {
        var rest = String(lowered[start...])
        var end = rest.endIndex
        for stop in documentEnds {
            if let r = rest.range(of: stop), r.lowerBound < end { end = r.lowerBound }
        }
        rest = String(rest[..<end])
        let offset = lowered.distance(from: lowered.startIndex, to: start)
        var doc = String(text.dropFirst(offset).prefix(rest.count)).trimmingCharacters(in: .whitespaces)
        for prefix in ["the ", "a ", "an ", "her ", "his ", "their "] where doc.lowercased().hasPrefix(prefix) { doc = String(doc.dropFirst(prefix.count)) }
        doc = doc.trimmingCharacters(in: CharacterSet.whitespaces.union(CharacterSet(charactersIn: "\"'.")))
        if let name, doc.lowercased().hasPrefix(name.lowercased()) { return nil }
        let words = doc.lowercased().split(separator: " ").map(String.init)
        guard !doc.isEmpty, doc.count <= 100, words.count <= 6, !words.allSatisfy({ ["it", "them", "case", "cases", "file", "this", "that"].contains($0) })
        else { return nil }
        return doc
    }

    /// The request without a trailing reason ("… because it is expired"), whose words are no name.
    static func beforeReason(_ text: String) -> String {
        let lowered = text.lowercased()
        let cut = [" because ", " since ", ": ", " - ", " — "].compactMap { lowered.range(of: $0)?.lowerBound }.min()
        guard let cut else { return text }
        return String(text.prefix(lowered.distance(from: lowered.startIndex, to: cut)))
    }

    static func reason(in text: String) -> String? {
        let lowered = text.lowercased()
        var best: String.Index?
        for marker in [" because ", " since ", ": ", " - ", " — ", " as it ", ", "] {
            guard let r = lowered.range(of: marker) else { continue }
            // ", reject it": the verb, not a reason.
            let after = lowered[r.upperBound...]
            if marker == ", ", ["reject", "decline", "please", "thanks"].contains(where: { after.hasPrefix($0) }) { continue }
            best = r.upperBound
            break
        }
        guard let best else { return nil }
        let offset = lowered.distance(from: lowered.startIndex, to: best)
        let reason = String(text.dropFirst(offset)).trimmingCharacters(in: CharacterSet.whitespacesAndNewlines.union(CharacterSet(charactersIn: ".!")))
        return reason.isEmpty ? nil : String(reason.prefix(500))
    }

    /// Normalised for comparing document names: "W-2" and "w2", "Photo ID" and "photo id".
    static func key(_ s: String) -> String { s.lowercased().folding(options: .diacriticInsensitive, locale: nil).filter { $0.isLetter || $0.isNumber } }

    /// The case's requested document a paralegal means, or all candidates when unclear.
    static func documents(matching said: String, in docs: [JSONValue]) -> [JSONValue] {
        let k = key(said)
        guard !k.isEmpty else { return [] }
        let exact = docs.filter { key($0["document_name"]?.stringValue ?? "") == k }
        if !exact.isEmpty { return exact }
        let containing = docs.filter { let d = key($0["document_name"]?.stringValue ?? ""); return !d.isEmpty && (d.contains(k) || k.contains(d)) }
        if !containing.isEmpty { return containing }
        let saidWords = Set(said.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init))
        return docs.filter { d in
            let words = Set((d["document_name"]?.stringValue ?? "").lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init))
            return !words.isEmpty && Double(words.intersection(saidWords).count) / Double(words.union(saidWords).count) >= 0.5
        }
    }
}
