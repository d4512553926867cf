import Foundation
import ParleyCore

public enum WorkflowStatus: String, Sendable, Codable, CaseIterable {
    case pending = "PENDING", processing = "PROCESSING", waitingApproval = "WAITING_APPROVAL"
    case completed = "COMPLETED", failed = "FAILED", cancelled = "CANCELLED"
    /// Handed to a person (issue 12): the agent does not answer until they hand it back.
    case waitingHuman = "WAITING_HUMAN"

    public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// One agent run, as stored and as the API shows it.
public struct Workflow: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var sessionID: String?
    public var status: WorkflowStatus
    public var initialPrompt: String
    public var finalResponse: String?
    public var agentType: String
    public var provider: String?
    public var errorType: String?
    public var errorMessage: String?
    public var inputTokens: Int
    public var outputTokens: Int
    public var totalSteps: Int
    public var toolsUsed: [String]
    public var createdAt: Date
    public var updatedAt: Date
    public var startedAt: Date?
    public var completedAt: Date?
    /// The agent definition and version the run used (nil for runs from before agents were data).
    public var agentID: String? = nil
    public var agentVersion: Int? = nil
}

/// One event of a run. `fields` holds the type-specific members; `json` adds the common ones.
public struct WorkflowEvent: Sendable, Equatable {
    public var workflowID: String
    public var seq: Int
    public var type: String
    public var timestamp: Date
    public var fields: [String: JSONValue]

    public init(workflowID: String, seq: Int, type: String, timestamp: Date, fields: [String: JSONValue]) {
        self.workflowID = workflowID
        self.seq = seq
        self.type = type
        self.timestamp = timestamp
        self.fields = fields
    }

    public static let terminalTypes: Set<String> = ["workflow_completed", "workflow_error"]
    public var isTerminal: Bool { Self.terminalTypes.contains(type) }

    public var json: JSONValue {
        var object = fields
        object["type"] = .string(type)
        object["workflow_id"] = .string(workflowID)
        object["seq"] = .number(Double(seq))
        object["timestamp"] = .string(Timestamps.format(timestamp))
        return .object(object)
    }
}

public enum EventType {
    public static let workflowStarted = "workflow_started"
    public static let reasoningStep = "reasoning_step"
    public static let agentThinking = "agent_thinking"
    public static let textDelta = "text_delta"
    public static let toolStart = "tool_start"
    public static let toolEnd = "tool_end"
    public static let approvalRequired = "approval_required"
    public static let approvalResolved = "approval_resolved"
    public static let workflowCompleted = "workflow_completed"
    public static let workflowError = "workflow_error"
    public static let heartbeat = "heartbeat"
    // Hand-off to a person and back (issue 12).
    public static let handoff = "handoff"
    public static let humanMessage = "human_message"
    public static let customerMessage = "customer_message"
    public static let handback = "handback"
    /// Events after which a request/response caller stops waiting (the run needs a person).
    public static let pausing: Set<String> = [approvalRequired, handoff, customerMessage]
    // Knowledge sources: one per entry of a tool output's `citations` array, after its tool_end.
    public static let citation = "citation"
}

public enum ApprovalStatus: String, Sendable, Codable {
    case pending, approved, denied, cancelled
}

public struct Approval: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var workflowID: String
    public var callID: String
    public var tool: String
    public var input: JSONValue
    public var reason: String
    public var status: ApprovalStatus
    public var comment: String?
    public var decidedBy: String?
    public var createdAt: Date
    public var decidedAt: Date?
}

public struct Session: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var title: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// Whether the agent or a person answers (issue 12).
    public var mode: SessionMode = .agent
    /// The stored summary of older turns (memory), if the history ever passed its budget.
    public var summary: String?
}

public struct SessionMessage: Sendable, Equatable {
    /// `staff`: a person replying during a hand-off.
    public enum Role: String, Sendable, Codable { case user, assistant, staff }
    public var id: String
    public var tenantID: String
    public var sessionID: String
    public var workflowID: String?
    public var role: Role
    public var content: String
    public var createdAt: Date
}

/// ISO 8601 UTC with milliseconds, as everywhere on the wire.
public enum Timestamps {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    public static func format(_ date: Date) -> String { style.format(date) }
}

// MARK: - Persisted run state

/// A tool call of the current model turn and, once known, its result.
struct PendingCall: Sendable, Codable, Equatable {
    var callID: String
    var tool: String
    var arguments: String
    var stepID: String
    var approvalID: String?
    var result: String?
    var isError: Bool?
}

/// What a paused run needs to continue in another process: the conversation sent to the model,
/// the tool calls of the turn in progress and the running totals.
struct RunState: Sendable, Codable, Equatable {
    var messages: [ModelMessage]
    var iteration: Int = 0
    var stepNumber: Int = 0
    var toolsUsed: [String] = []
    var inputTokens: Int = 0
    var outputTokens: Int = 0
    var provider: String?
    var pending: [PendingCall] = []
    var answer: String = ""
    /// Execution time of earlier stretches (before pauses for approval).
    var elapsedMilliseconds: Int = 0
    /// The session's summary of turns older than the history sent (memory).
    var summary: String?
    /// What the person who handed the conversation back told the agent.
    var handbackNote: String?
    /// No-relevant-results tool outcomes in a run without a session.
    var noResults: Int?
    /// How many times this run was handed to a person (the customer-words rules run only before the first).
    var handoffs: Int?
    /// What the run's agent definition asks of it (prompt, tools, limits, approvals, model).
    var agent: AgentRunConfig?
    /// A direct tool call (an MCP client's `tools/call`): the pending call runs, with approval
    /// like any other, and its result is the answer; no model is asked.
    var direct: Bool?
}

extension ModelMessage: Codable {
    private enum Keys: String, CodingKey { case role, content }
    private enum BlockKeys: String, CodingKey { case type, text, id, name, arguments, callID = "call_id", content, isError = "is_error" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let roleText = try c.decode(String.self, forKey: .role)
        guard let role = Role(rawValue: roleText) else {
            throw DecodingError.dataCorruptedError(forKey: .role, in: c, debugDescription: "unknown role \(roleText)")
        }
        var blocks = try c.nestedUnkeyedContainer(forKey: .content)
        var content: [ContentBlock] = []
        while !blocks.isAtEnd {
            let b = try blocks.nestedContainer(keyedBy: BlockKeys.self)
            switch try b.decode(String.self, forKey: .type) {
            case "text": content.append(.text(try b.decode(String.self, forKey: .text)))
            case "tool_call":
                content.append(.toolCall(id: try b.decode(String.self, forKey: .id), name: try b.decode(String.self, forKey: .name),
                                         arguments: try b.decode(String.self, forKey: .arguments)))
            case "tool_result":
                content.append(.toolResult(callID: try b.decode(String.self, forKey: .callID), content: try b.decode(String.self, forKey: .content),
                                           isError: try b.decode(Bool.self, forKey: .isError)))
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .type, in: b, debugDescription: "unknown block \(other)")
            }
        }
        self.init(role: role, content: content)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(role.rawValue, forKey: .role)
        var blocks = c.nestedUnkeyedContainer(forKey: .content)
        for block in content {
            var b = blocks.nestedContainer(keyedBy: BlockKeys.self)
            switch block {
            case .text(let text):
                try b.encode("text", forKey: .type); try b.encode(text, forKey: .text)
            case .toolCall(let id, let name, let arguments):
                try b.encode("tool_call", forKey: .type); try b.encode(id, forKey: .id)
                try b.encode(name, forKey: .name); try b.encode(arguments, forKey: .arguments)
            case .toolResult(let callID, let content, let isError):
                try b.encode("tool_result", forKey: .type); try b.encode(callID, forKey: .callID)
                try b.encode(content, forKey: .content); try b.encode(isError, forKey: .isError)
            }
        }
    }
}
