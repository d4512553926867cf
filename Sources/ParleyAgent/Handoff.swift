import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

// Escalation to a person and back (issue 12): the rules the runtime applies, the
// `escalate_to_human` tool, hand-off records and session memory. Core: no pack names here.

/// The hand-off tables and the session columns that follow a conversation's state and memory.
public enum HandoffSchema {
    public static let migrations: [Migration] = [
        Migration("0016_handoffs", [
            "ALTER TABLE agent_sessions ADD COLUMN state TEXT NOT NULL DEFAULT 'agent'",
            "ALTER TABLE agent_sessions ADD COLUMN summary TEXT",
            "ALTER TABLE agent_sessions ADD COLUMN summary_through TEXT",
            "ALTER TABLE agent_sessions ADD COLUMN summary_updated_at %TIMESTAMP%",
            "ALTER TABLE agent_sessions ADD COLUMN no_result_count INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tenants ADD COLUMN handoff_email TEXT",
            """
            CREATE TABLE handoffs (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                session_id TEXT,
                workflow_id TEXT NOT NULL REFERENCES workflows(id),
                state TEXT NOT NULL,
                cause TEXT NOT NULL,
                reason TEXT NOT NULL,
                summary TEXT,
                claimed_by TEXT,
                claimed_at %TIMESTAMP%,
                returned_by TEXT,
                returned_at %TIMESTAMP%,
                note TEXT,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX handoffs_tenant_state ON handoffs (tenant_id, state, id)",
            "CREATE INDEX handoffs_session ON handoffs (session_id)",
        ]),
    ]
}

/// Whether the agent or a person answers a session's customer.
public enum SessionMode: String, Sendable, Codable {
    case agent
    case handedOff = "handed_off"
}

public enum HandoffState: String, Sendable, Codable, CaseIterable {
    /// Waiting for a person.
    case open
    /// A person took it.
    case claimed
    /// Handed back to the agent.
    case returned

    public var isOpen: Bool { self != .returned }
}

/// A conversation handed to people: the run paused in `WAITING_HUMAN` carries its stream.
public struct Handoff: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var sessionID: String?
    public var workflowID: String
    public var state: HandoffState
    /// What escalated it: `escalate_to_human` or a rule's name.
    public var trigger: String
    public var reason: String
    /// For staff: what the conversation is about (the model's summary, or the last messages).
    public var summary: String?
    public var claimedBy: String?
    public var claimedAt: Date?
    public var returnedBy: String?
    public var returnedAt: Date?
    public var note: String?
    public var createdAt: Date
    public var updatedAt: Date
}

/// Why the runtime hands a conversation to a person.
public struct Escalation: Sendable, Equatable {
    /// The rule's name (`customer_request`, `frustration`, `legal`, `no_relevant_results`) or the tool's.
    public var trigger: String
    public var reason: String
    public var summary: String?

    public init(trigger: String, reason: String, summary: String? = nil) {
        self.trigger = trigger
        self.reason = reason
        self.summary = summary
    }
}

/// The rules the runtime applies around the model, as data: each names the words that fire it
/// and the reason staff see. Matching is on lower-cased words and phrases (English only).
public struct EscalationRules: Sendable {
    public struct Rule: Sendable {
        public var name: String
        public var reason: String
        /// Phrases matched anywhere in the lower-cased message (with spaces between words).
        public var phrases: [String]
        /// Whole words.
        public var words: [String]
        public init(name: String, reason: String, phrases: [String] = [], words: [String] = []) {
            self.name = name
            self.reason = reason
            self.phrases = phrases
            self.words = words
        }
    }

    public var rules: [Rule]
    /// Words and phrases that signal frustration; one message with two signals (a word, shouting
    /// in capitals, "!!!") or a second frustrated message in the session escalates.
    public var frustration: Rule
    /// How many tool outcomes with `"no_relevant_results": true` in a session escalate.
    public var noResultsLimit: Int

    public init(rules: [Rule], frustration: Rule, noResultsLimit: Int = 2) {
        self.rules = rules
        self.frustration = frustration
        self.noResultsLimit = noResultsLimit
    }

    public static let toolName = "escalate_to_human"

    public static let standard = EscalationRules(rules: [
        Rule(name: "customer_request", reason: "The customer asked to talk to a person",
             phrases: ["talk to a human", "speak to a human", "speak with a human", "talk with a human", "talk to a person",
                       "speak to a person", "speak with a person", "talk to someone", "speak to someone", "speak with someone",
                       "a real person", "a real human", "human agent", "live agent", "live person", "live chat agent",
                       "talk to an agent", "speak to an agent", "speak with an agent", "talk to a real", "get me a human",
                       "connect me to a human", "transfer me", "customer service rep", "talk to support staff", "a human please",
                       "human please", "talk to a manager", "speak to a manager", "speak with a manager", "talk to your manager"],
             words: ["representative", "representatives"]),
        Rule(name: "legal", reason: "The customer raised a legal or compliance matter",
             phrases: ["legal action", "small claims", "data protection", "right to be forgotten", "subject access request",
                       "consumer protection", "trading standards", "file a complaint with", "report you to", "take you to court"],
             words: ["lawyer", "lawyers", "attorney", "attorneys", "solicitor", "lawsuit", "sue", "suing", "litigation", "gdpr", "ccpa",
                     "chargeback", "chargebacks", "ombudsman", "regulator", "court", "legal", "dsar"]),
    ], frustration: Rule(
        name: "frustration", reason: "The customer is frustrated",
        phrases: ["waste of time", "fed up", "sick of", "not helpful", "no help", "doesn't help", "does not help", "still not working",
                  "still doesn't work", "still broken", "not good enough", "are you kidding", "this is a joke", "for the third time",
                  "i already told you", "how many times"],
        words: ["ridiculous", "unacceptable", "useless", "terrible", "awful", "worst", "angry", "furious", "frustrated", "frustrating",
                "annoyed", "annoying", "stupid", "pathetic", "horrible", "disgusting", "outrageous", "incompetent", "rubbish", "garbage"]))

    /// The rule a customer's message fires, if any. `earlier` are the customer's previous
    /// messages in the session (for repeated complaints).
    public func evaluate(_ message: String, earlier: [String] = []) -> Escalation? {
        let text = Self.normalize(message)
        for rule in rules where Self.fires(rule, text) {
            return Escalation(trigger: rule.name, reason: rule.reason)
        }
        let now = frustrationSignals(message)
        if now >= 2 || (now >= 1 && earlier.contains { frustrationSignals($0) >= 1 }) {
            return Escalation(trigger: frustration.name, reason: now >= 2 ? frustration.reason : frustration.reason + " (repeated complaints)")
        }
        return nil
    }

    /// Frustration signals in one message: lexicon hits, shouting in capitals, "!!!".
    public func frustrationSignals(_ message: String) -> Int {
        let text = Self.normalize(message)
        var n = frustration.phrases.filter { text.padded.contains(" \($0) ") }.count
        n += Set(text.words).intersection(frustration.words).count
        let letters = message.unicodeScalars.filter { CharacterSet.letters.contains($0) }
        let upper = letters.filter { CharacterSet.uppercaseLetters.contains($0) }.count
        if letters.count >= 8, Double(upper) >= 0.7 * Double(letters.count) { n += 1 }
        if message.contains("!!!") || message.contains("?!?!") { n += 1 }
        return n
    }

    /// Counts the tool outputs that are JSON objects with `"no_relevant_results": true`.
    public static func noRelevantResults(_ outputs: [String]) -> Int {
        outputs.filter { output in
            guard output.contains("no_relevant_results"), let value = try? JSONValue.parse(output) else { return false }
            return value["no_relevant_results"]?.boolValue == true
        }.count
    }

    struct Normalized {
        var words: [String]
        /// The words joined by single spaces, with a space at each end (for phrase matching).
        var padded: String
    }

    static func normalize(_ message: String) -> Normalized {
        let words = message.lowercased().replacingOccurrences(of: "’", with: "'")
            .split { !($0.isLetter || $0.isNumber || $0 == "'") }.map(String.init)
        return Normalized(words: words, padded: " " + words.joined(separator: " ") + " ")
    }

    static func fires(_ rule: Rule, _ text: Normalized) -> Bool {
        rule.phrases.contains { text.padded.contains(" \($0) ") } || !Set(text.words).isDisjoint(with: rule.words)
    }
}

/// The core tools every tenant's agent has (not part of any pack).
public enum CoreTools {
    public static var all: [Tool] { [escalateToHuman] }

    /// Hands the conversation to a person. The runtime pauses the run after the turn; the tool
    /// itself changes nothing, so it needs no approval.
    public static let escalateToHuman = Tool(
        name: EscalationRules.toolName,
        description: """
            Hand this conversation to a person on the team. Use it when the customer asks for a person, is upset, raises a \
            legal or compliance matter, or when you cannot help. Give a short reason and a summary staff can act on. After \
            calling it, tell the customer a person will reply here.
            """,
        inputSchema: ["type": "object", "properties": [
            "reason": ["type": "string", "minLength": 1, "maxLength": 500],
            "summary": ["type": "string", "maxLength": 4000],
        ], "required": ["reason"], "additionalProperties": false],
        permission: .act
    ) { input, _ in
        ["handed_off": true, "reason": input["reason"] ?? .null,
         "message": "A person from the team will reply in this conversation; the assistant will not answer until they hand it back."]
    }
}

/// Tells staff about a new hand-off (the server queues an email). Runs inside the transaction
/// that records the hand-off; it must not throw for a missing address (nothing is sent then).
public protocol HandoffNotifier: Sendable {
    func handoffOpened(_ handoff: Handoff, on db: any SQLDatabase) async throws
}

/// The text markers the runtime puts into the conversation around a hand-off.
public enum HandoffText {
    /// The user turn added when a person hands back after speaking last: the model (and the
    /// offline planner) continue from it.
    public static let handedBack = "[The team handed this conversation back to the assistant. Continue helping the customer.]"
    public static let notice = "A person from the team will reply here. The assistant will not answer until they hand the conversation back."

    /// How a staff member's reply appears to the model.
    static func staff(_ name: String, _ text: String) -> String { "[\(name), a person on the team, wrote:] \(text)" }
}

/// The offline planner's answer to a hand-back (no customer question pending).
struct HandbackIntent: OfflineIntent {
    let name = "handback"
    let summary = "Continue after a person hands a conversation back"
    let examples: [String] = []

    func match(_ u: Utterance) -> IntentMatch? {
        u.text == HandoffText.handedBack ? IntentMatch(score: 10) : nil
    }

    func next(_ turn: PlannerTurn) -> PlannerStep {
        .answer("I'm back with you; the team has handed this conversation back to me. Is there anything else I can help you with?")
    }
}

// MARK: - Storage

struct HandoffRepository: Sendable {
    func insert(_ h: Handoff, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO handoffs (id, tenant_id, session_id, workflow_id, state, cause, reason, summary, created_at, updated_at)
            VALUES (\(bind: h.id), \(bind: h.tenantID), \(bind: h.sessionID), \(bind: h.workflowID), \(bind: h.state.rawValue), \(bind: h.trigger),
                    \(bind: h.reason), \(bind: h.summary), \(bind: h.createdAt), \(bind: h.updatedAt))
            """).run()
    }

    func find(tenantID: String, id: String, on db: any SQLDatabase) async throws -> Handoff? {
        try await db.raw("SELECT * FROM handoffs WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.decode)
    }

    /// The session's hand-off that is not yet returned (at most one).
    func openForSession(tenantID: String, sessionID: String, on db: any SQLDatabase) async throws -> Handoff? {
        try await db.raw("""
            SELECT * FROM handoffs WHERE tenant_id = \(bind: tenantID) AND session_id = \(bind: sessionID) AND state <> 'returned'
            ORDER BY id DESC LIMIT 1
            """).first().map(Self.decode)
    }

    /// Newest first; `before` is the last id of the previous page.
    func list(tenantID: String, states: [HandoffState], before: String?, limit: Int, on db: any SQLDatabase) async throws -> [Handoff] {
        let list = SQLList(states.map { SQLBind($0.rawValue) })
        var sql: SQLQueryString = "SELECT * FROM handoffs WHERE tenant_id = \(bind: tenantID) AND state IN (\(list))"
        if let before { sql += " AND id < \(bind: before)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(Self.decode)
    }

    func claim(tenantID: String, id: String, by actor: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE handoffs SET state = 'claimed', claimed_by = \(bind: actor), claimed_at = \(bind: at), updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)
            """).run()
    }

    func markReturned(tenantID: String, id: String, by actor: String, note: String?, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE handoffs SET state = 'returned', returned_by = \(bind: actor), returned_at = \(bind: at), note = \(bind: note), updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)
            """).run()
    }

    /// Closes the open hand-off of a run that ended (cancelled), with its session back to the agent.
    func closeForWorkflow(tenantID: String, workflowID: String, at: Date, on db: any SQLDatabase) async throws {
        let rows = try await db.raw("""
            UPDATE handoffs SET state = 'returned', returned_by = 'system', returned_at = \(bind: at),
                note = 'the run was cancelled', updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND workflow_id = \(bind: workflowID) AND state <> 'returned' RETURNING session_id
            """).all()
        for row in rows {
            if let sessionID = try row.decode(column: "session_id", as: String?.self) {
                try await setSessionMode(tenantID: tenantID, sessionID: sessionID, mode: .agent, at: at, on: db)
            }
        }
    }

    func touch(tenantID: String, id: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE handoffs SET updated_at = \(bind: at) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    func setSessionMode(tenantID: String, sessionID: String, mode: SessionMode, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE agent_sessions SET state = \(bind: mode.rawValue), no_result_count = 0, updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: sessionID)
            """).run()
    }

    /// Adds `n` no-relevant-results outcomes to the session's count; returns the new count.
    func addNoResults(tenantID: String, sessionID: String, _ n: Int, on db: any SQLDatabase) async throws -> Int {
        try await db.raw("""
            UPDATE agent_sessions SET no_result_count = no_result_count + \(bind: n)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: sessionID) RETURNING no_result_count
            """).first()?.decode(column: "no_result_count", as: Int.self) ?? n
    }

    func saveSummary(tenantID: String, sessionID: String, summary: String, through: String, at: Date, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE agent_sessions SET summary = \(bind: summary), summary_through = \(bind: through), summary_updated_at = \(bind: at)
            WHERE tenant_id = \(bind: tenantID) AND id = \(bind: sessionID)
            """).run()
    }

    static func decode(_ row: any SQLRow) throws -> Handoff {
        Handoff(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            sessionID: try row.decode(column: "session_id", as: String?.self), workflowID: try row.decode(column: "workflow_id", as: String.self),
            state: HandoffState(rawValue: try row.decode(column: "state", as: String.self)) ?? .open,
            trigger: try row.decode(column: "cause", as: String.self), reason: try row.decode(column: "reason", as: String.self),
            summary: try row.decode(column: "summary", as: String?.self),
            claimedBy: try row.decode(column: "claimed_by", as: String?.self), claimedAt: try row.decode(column: "claimed_at", as: Date?.self),
            returnedBy: try row.decode(column: "returned_by", as: String?.self), returnedAt: try row.decode(column: "returned_at", as: Date?.self),
            note: try row.decode(column: "note", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Date.self), updatedAt: try row.decode(column: "updated_at", as: Date.self))
    }
}
