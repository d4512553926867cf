import Foundation
import ParleyAgent
import ParleyCore

/// The kinds of step a flow is made of.
public enum FlowStepType: String, Sendable, CaseIterable, Codable {
    case transform, condition, tool, agent, delay, approval, parallel
    case subFlow = "sub_flow"
    case sendMessage = "send_message"
    case http

    /// The fields each type's `config` takes, and which of them are required.
    var configFields: (all: Set<String>, required: Set<String>) {
        switch self {
        case .transform: (["output"], ["output"])
        case .condition: (["branches", "default"], ["branches"])
        case .tool: (["tool", "input"], ["tool"])
        case .agent: (["agent", "message"], ["agent", "message"])
        case .delay: (["seconds"], ["seconds"])
        case .approval: (["message", "on_reject"], [])
        case .parallel: (["branches", "mode", "count"], ["branches"])
        case .subFlow: (["flow", "input"], ["flow"])
        case .sendMessage: (["channel", "to", "subject", "text", "template", "variables"], ["channel", "to"])
        case .http: (["method", "url", "headers", "body", "allow_hosts"], ["url", "allow_hosts"])
        }
    }
}

public struct FlowRetries: Sendable, Equatable {
    /// Attempts after the first.
    public var max: Int
    public var backoffSeconds: Double
    public var factor: Double

    public static let none = FlowRetries(max: 0, backoffSeconds: 1, factor: 2)

    /// The wait after failed attempt `n` (1-based).
    public func delay(afterAttempt n: Int) -> Double {
        Swift.min(backoffSeconds * pow(factor, Double(Swift.max(0, n - 1))), 86_400)
    }
}

/// One branch of a condition: when `path op value` holds, go to `next` (null: the flow ends).
public struct FlowConditionBranch: Sendable, Equatable {
    public var path: JSONPath
    public var op: String
    public var value: JSONValue?
    public var next: String?
}

public struct FlowStep: Sendable, Equatable {
    public var id: String
    public var type: FlowStepType
    public var config: JSONValue
    /// The step after this one; nil ends the flow (or the parallel branch).
    public var next: String?
    public var retries: FlowRetries
    public var timeoutSeconds: Double?
    /// May run again after an attempt that was interrupted mid-way (a side-effecting tool).
    public var idempotent: Bool

    public var conditionBranches: [FlowConditionBranch] {
        (config["branches"]?.arrayValue ?? []).compactMap { b in
            guard let raw = b["path"]?.stringValue, let path = try? JSONPath(raw) else { return nil }
            return FlowConditionBranch(path: path, op: b["op"]?.stringValue ?? "eq", value: b["value"], next: b["next"]?.stringValue)
        }
    }

    public var parallelBranches: [String] { (config["branches"]?.arrayValue ?? []).compactMap(\.stringValue) }

    /// How many branches a parallel step waits for.
    public var parallelNeeded: Int {
        let n = parallelBranches.count
        switch config["mode"]?.stringValue ?? "all" {
        case "any": return min(1, n)
        case "first": return min(config["count"]?.intValue ?? 1, n)
        default: return n
        }
    }

    /// Every step this one may lead to.
    var successors: [String] {
        var out: [String] = []
        if let next { out.append(next) }
        switch type {
        case .condition:
            out += conditionBranches.compactMap(\.next)
            if let d = config["default"]?.stringValue { out.append(d) }
        case .approval:
            if let r = config["on_reject"]?.stringValue { out.append(r) }
        case .parallel:
            out += parallelBranches
        default: break
        }
        return out
    }
}

/// A flow's definition as data: what a version stores and shows.
public struct FlowSpec: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var inputSchema: JSONValue?
    public var steps: [FlowStep]
    /// The execution's output (templates); nil: the last step's output.
    public var output: JSONValue?
    /// The original JSON (re-parsed when read back).
    public var json: JSONValue

    public func step(_ id: String) -> FlowStep? { steps.first { $0.id == id } }
    public var start: FlowStep? { steps.first }

    /// The parallel step that owns `id` as a branch, if any.
    public func parallelOwner(of id: String) -> FlowStep? {
        steps.first { $0.type == .parallel && $0.parallelBranches.contains(id) }
    }

    public static let fields: Set<String> = ["name", "description", "input_schema", "steps", "output"]
    static let stepFields: Set<String> = ["id", "type", "config", "next", "retries", "timeout_seconds", "idempotent"]
    static let reserved: Set<String> = ["executions"]

    static func invalid(_ message: String, code: String = "invalid_flow") -> ParleyError { .badRequest(message, code: code) }

    /// Parses and checks a whole definition. Every problem is a 400 naming the step and field.
    /// `tools` are the installed tool names (a tool step naming another is refused).
    public static func parse(_ body: JSONValue, tools: Set<String>?) throws -> FlowSpec {
        guard let o = body.objectValue else { throw invalid("send the flow as a JSON object", code: "invalid_json") }
        if let unknown = o.keys.sorted().first(where: { !fields.contains($0) }) {
            throw invalid("unknown field '\(unknown.prefix(64))'; a flow has \(fields.sorted().joined(separator: ", "))", code: "unknown_field")
        }
        guard let name = o["name"]?.stringValue, name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"#, options: .regularExpression) != nil else {
            throw invalid("'name' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. \"onboarding\")")
        }
        guard !reserved.contains(name) else { throw invalid("'\(name)' is reserved (it is a path under /v1/flows); choose another name") }
        var description: String?
        if let d = o["description"], d != .null {
            guard let s = d.stringValue, s.count <= 500 else { throw invalid("'description' must be a string of at most 500 characters, or null") }
            description = s
        }
        var schema: JSONValue?
        if let s = o["input_schema"], s != .null {
            guard s.objectValue != nil else { throw invalid("'input_schema' must be a JSON Schema object, or null") }
            schema = s
        }
        guard let rawSteps = o["steps"]?.arrayValue, !rawSteps.isEmpty, rawSteps.count <= 200 else {
            throw invalid("'steps' must be an array of 1 to 200 steps, e.g. [{\"id\": \"greet\", \"type\": \"transform\", \"config\": {\"output\": \"Hello {{input.name}}\"}}]")
        }
        var steps: [FlowStep] = []
        var seen: Set<String> = []
        for (i, raw) in rawSteps.enumerated() {
            let step = try parseStep(raw, index: i, tools: tools)
            guard seen.insert(step.id).inserted else { throw invalid("step '\(step.id)' appears twice; step ids must be unique", code: "duplicate_step") }
            steps.append(step)
        }
        let spec = FlowSpec(name: name, description: description, inputSchema: schema, steps: steps, output: o["output"].flatMap { $0 == .null ? nil : $0 },
                            json: body)
        try spec.checkGraph()
        return spec
    }

    static func parseStep(_ raw: JSONValue, index: Int, tools: Set<String>?) throws -> FlowStep {
        guard let o = raw.objectValue else { throw invalid("steps[\(index)] must be an object with id, type and config") }
        guard let id = o["id"]?.stringValue, id.range(of: #"^[A-Za-z][A-Za-z0-9_]{0,63}$"#, options: .regularExpression) != nil else {
            throw invalid("steps[\(index)].id must be 1 to 64 letters, digits or '_', starting with a letter (templates name it: {{steps.<id>.output}})")
        }
        func bad(_ message: String, code: String = "invalid_step") -> ParleyError { invalid("step '\(id)': \(message)", code: code) }
        if let unknown = o.keys.sorted().first(where: { !stepFields.contains($0) }) {
            throw bad("unknown field '\(unknown.prefix(64))'; a step has \(stepFields.sorted().joined(separator: ", "))", code: "unknown_field")
        }
        guard let typeName = o["type"]?.stringValue, let type = FlowStepType(rawValue: typeName) else {
            throw bad("unknown type '\((o["type"]?.stringValue ?? o["type"]?.serialized() ?? "").prefix(40))'; the types are \(FlowStepType.allCases.map(\.rawValue).joined(separator: ", "))",
                      code: "unknown_step_type")
        }
        let config = o["config"] ?? .object([:])
        guard let c = config.objectValue else { throw bad("'config' must be an object") }
        let fields = type.configFields
        if let unknown = c.keys.sorted().first(where: { !fields.all.contains($0) }) {
            throw bad("unknown config field '\(unknown.prefix(64))' for a \(type.rawValue) step; it takes \(fields.all.sorted().joined(separator: ", "))", code: "unknown_field")
        }
        if let missing = fields.required.sorted().first(where: { c[$0] == nil || c[$0] == .null }) {
            throw bad("a \(type.rawValue) step needs config.\(missing)")
        }
        var next: String?
        if let n = o["next"], n != .null {
            guard let s = n.stringValue else { throw bad("'next' must be a step id or null") }
            guard type != .condition else { throw bad("a condition step chooses its next step in config.branches and config.default; remove 'next'") }
            next = s
        }
        var retries = FlowRetries.none
        if let r = o["retries"], r != .null {
            guard let ro = r.objectValue, ro.keys.allSatisfy({ ["max", "backoff_seconds", "factor"].contains($0) }),
                  let max = ro["max"]?.intValue, (0...10).contains(max) else {
                throw bad("'retries' must be {\"max\": 0 to 10, \"backoff_seconds\": 0.001 to 3600, \"factor\": 1 to 10}")
            }
            retries.max = max
            if let b = ro["backoff_seconds"] {
                guard let v = b.doubleValue, v >= 0.001, v <= 3600 else { throw bad("'retries.backoff_seconds' must be a number from 0.001 to 3600") }
                retries.backoffSeconds = v
            }
            if let f = ro["factor"] {
                guard let v = f.doubleValue, v >= 1, v <= 10 else { throw bad("'retries.factor' must be a number from 1 to 10") }
                retries.factor = v
            }
        }
        var timeout: Double?
        if let t = o["timeout_seconds"], t != .null {
            guard let v = t.doubleValue, v >= 0.01, v <= 86_400 else { throw bad("'timeout_seconds' must be a number from 0.01 to 86400") }
            timeout = v
        }
        var idempotent = false
        if let i = o["idempotent"], i != .null {
            guard let b = i.boolValue else { throw bad("'idempotent' must be true or false") }
            idempotent = b
        }
        let step = FlowStep(id: id, type: type, config: config, next: next, retries: retries, timeoutSeconds: timeout, idempotent: idempotent)
        try checkConfig(step, tools: tools, bad: bad)
        return step
    }

    private static func checkConfig(_ step: FlowStep, tools: Set<String>?, bad: (String, String) -> ParleyError) throws {
        let c = step.config
        func ref(_ key: String, _ v: JSONValue?) throws {
            guard let v, v != .null else { return }
            guard v.stringValue != nil else { throw bad("config.\(key) must be a step id or null", "invalid_step") }
        }
        switch step.type {
        case .transform:
            break
        case .condition:
            guard let branches = c["branches"]?.arrayValue, !branches.isEmpty, branches.count <= 50 else {
                throw bad("config.branches must be 1 to 50 branches: [{\"path\": \"$.input.total\", \"op\": \"gt\", \"value\": 100, \"next\": \"step_id\"}]", "invalid_step")
            }
            for (i, b) in branches.enumerated() {
                guard let bo = b.objectValue, bo.keys.allSatisfy({ ["path", "op", "value", "next"].contains($0) }) else {
                    throw bad("config.branches[\(i)] must be an object with path, op, value and next", "invalid_step")
                }
                guard let p = bo["path"]?.stringValue else { throw bad("config.branches[\(i)].path must be a JSONPath such as $.input.total", "invalid_step") }
                do { _ = try JSONPath(p) } catch { throw bad("config.branches[\(i)].path: \(error.description)", "invalid_path") }
                let op = bo["op"]?.stringValue ?? "eq"
                guard Comparison.names.contains(op) else {
                    throw bad("config.branches[\(i)].op '\(op.prefix(20))' is not an operator; use one of \(Comparison.names.joined(separator: ", "))", "invalid_step")
                }
                try ref("branches[\(i)].next", bo["next"])
            }
            try ref("default", c["default"])
        case .tool:
            guard let name = c["tool"]?.stringValue else { throw bad("config.tool must be a tool name", "invalid_step") }
            if let tools, !tools.contains(name) { throw bad("there is no tool named '\(name.prefix(64))'; GET /v1/tools lists them", "unknown_tool") }
            if let input = c["input"], input != .null, input.objectValue == nil, input.stringValue == nil {
                throw bad("config.input must be an object (templates allowed) or a template", "invalid_step")
            }
        case .agent:
            guard c["agent"]?.stringValue?.isEmpty == false else { throw bad("config.agent must be an agent's id or name", "invalid_step") }
            guard c["message"]?.stringValue?.isEmpty == false else { throw bad("config.message must be a non-empty text (templates allowed)", "invalid_step") }
        case .delay:
            guard let s = c["seconds"]?.doubleValue, s >= 0, s <= 31_536_000 else { throw bad("config.seconds must be a number from 0 to 31536000 (a year)", "invalid_step") }
        case .approval:
            if let m = c["message"], m != .null, m.stringValue == nil { throw bad("config.message must be a text (templates allowed)", "invalid_step") }
            try ref("on_reject", c["on_reject"])
        case .parallel:
            guard let branches = c["branches"]?.arrayValue, !branches.isEmpty, branches.count <= 20, branches.allSatisfy({ $0.stringValue != nil }) else {
                throw bad("config.branches must be 1 to 20 step ids, each run at once", "invalid_step")
            }
            let mode = c["mode"]?.stringValue ?? "all"
            guard ["all", "any", "first"].contains(mode) else { throw bad("config.mode must be all, any or first (with config.count)", "invalid_step") }
            if let n = c["count"] {
                guard mode == "first" else { throw bad("config.count goes with mode \"first\"", "invalid_step") }
                guard let v = n.intValue, v >= 1, v <= branches.count else { throw bad("config.count must be from 1 to the number of branches (\(branches.count))", "invalid_step") }
            } else if mode == "first" {
                throw bad("mode \"first\" needs config.count, the number of branches to wait for", "invalid_step")
            }
        case .subFlow:
            guard c["flow"]?.stringValue?.isEmpty == false else { throw bad("config.flow must be a flow's id or name", "invalid_step") }
        case .sendMessage:
            guard let channel = c["channel"]?.stringValue, ["email", "sms"].contains(channel) else {
                throw bad("config.channel must be \"email\" or \"sms\"", "invalid_step")
            }
            guard c["to"]?.stringValue?.isEmpty == false else { throw bad("config.to must be the recipient (templates allowed, e.g. \"{{input.email}}\")", "invalid_step") }
            for key in ["subject", "text", "template"] {
                if let v = c[key], v != .null, v.stringValue == nil { throw bad("config.\(key) must be a text (templates allowed)", "invalid_step") }
            }
            guard c["text"]?.stringValue?.isEmpty == false || c["template"]?.stringValue?.isEmpty == false else {
                throw bad("a send_message step needs config.text or config.template", "invalid_step")
            }
            if let v = c["variables"], v != .null, v.objectValue == nil { throw bad("config.variables must be an object (templates allowed)", "invalid_step") }
        case .http:
            let method = (c["method"]?.stringValue ?? "GET").uppercased()
            guard FlowStep.httpMethods.contains(method) else { throw bad("config.method must be one of \(FlowStep.httpMethods.joined(separator: ", "))", "invalid_step") }
            guard let hosts = c["allow_hosts"]?.arrayValue, !hosts.isEmpty, hosts.count <= 50,
                  hosts.allSatisfy({ ($0.stringValue?.isEmpty == false) && !($0.stringValue ?? "").contains("/") }) else {
                throw bad("config.allow_hosts must list 1 to 50 host names the step may call, e.g. [\"api.example.com\"]", "invalid_step")
            }
            guard let url = c["url"]?.stringValue else { throw bad("config.url must be an http(s) URL (templates allowed)", "invalid_step") }
            if !url.contains("{{") {
                guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = parsed.host?.lowercased() else {
                    throw bad("config.url '\(url.prefix(100))' is not an http(s) URL", "invalid_step")
                }
                guard hosts.compactMap({ $0.stringValue?.lowercased() }).contains(host) else {
                    throw bad("config.url's host '\(host)' is not in config.allow_hosts", "invalid_step")
                }
            }
            if let h = c["headers"], h != .null {
                guard let ho = h.objectValue, ho.count <= 50, ho.values.allSatisfy({ $0.stringValue != nil }) else {
                    throw bad("config.headers must be an object of header names to texts (templates allowed)", "invalid_step")
                }
            }
        }
        do {
            _ = try FlowTemplate.references(in: c)
        } catch {
            throw bad("a template in config: \(error.description)", "invalid_template")
        }
    }

    /// References resolve, parallel branches are leaves owned by one parallel step, every step is
    /// reachable from the first, and there are no cycles.
    func checkGraph() throws {
        let ids = Set(steps.map(\.id))
        var owner: [String: String] = [:]
        for step in steps {
            for target in step.successors where !ids.contains(target) {
                throw Self.invalid("step '\(step.id)' leads to '\(target.prefix(64))', which is not a step of this flow", code: "unknown_step")
            }
            for path in (try? FlowTemplate.references(in: step.config)) ?? [] {
                let keys = path.keys
                guard keys.first == "steps" else { continue }
                guard keys.count >= 2, ids.contains(keys[1]) else {
                    throw Self.invalid("step '\(step.id)': the template {{\(path.description.prefix(80))}} names a step that does not exist", code: "unknown_step")
                }
            }
            if step.type == .parallel {
                for b in step.parallelBranches {
                    if let other = owner[b] { throw Self.invalid("step '\(b)' is a branch of both '\(other)' and '\(step.id)'; a step belongs to one parallel step", code: "invalid_step") }
                    owner[b] = step.id
                    if b == step.id { throw Self.invalid("parallel step '\(step.id)' lists itself as a branch", code: "flow_cycle") }
                    if steps.first?.id == b { throw Self.invalid("step '\(b)' is the first step and cannot also be a parallel branch", code: "invalid_step") }
                }
            }
        }
        for step in steps {
            for target in step.successors where owner[target] != nil && !(step.type == .parallel && step.parallelBranches.contains(target)) {
                throw Self.invalid("step '\(step.id)' leads to '\(target)', which is a branch of parallel step '\(owner[target] ?? "")'; only that parallel step starts it",
                                   code: "invalid_step")
            }
            if owner[step.id] != nil, step.next != nil {
                throw Self.invalid("step '\(step.id)' is a parallel branch and cannot have 'next' (the parallel step continues when its branches are done; a longer branch is a sub_flow)",
                                   code: "invalid_step")
            }
        }
        // Depth-first from the start: a step met again on the current path is a cycle.
        var state: [String: Int] = [:]  // 1 on the path, 2 done
        let byID = Dictionary(uniqueKeysWithValues: steps.map { ($0.id, $0) })
        func visit(_ id: String) throws {
            if state[id] == 2 { return }
            if state[id] == 1 { throw Self.invalid("step '\(id)' is part of a cycle; flows run forward only (repeat work with a sub_flow or a new execution)", code: "flow_cycle") }
            state[id] = 1
            for next in byID[id]?.successors ?? [] { try visit(next) }
            state[id] = 2
        }
        if let first = steps.first { try visit(first.id) }
        if let unreachable = steps.first(where: { state[$0.id] == nil }) {
            throw Self.invalid("step '\(unreachable.id)' cannot be reached from the first step '\(steps[0].id)'; connect it or remove it", code: "unreachable_step")
        }
    }
}
