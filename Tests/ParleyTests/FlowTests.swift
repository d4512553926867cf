import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
import ParleyApp
import ParleyComms
import ParleyCore
import ParleyFlows
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
import SQLKit
import Synchronization
import Testing

/// Tools the flow tests need beside the agent tests' own.
enum FlowTestPack {
    static let calls = Mutex<[String: Int]>([:])

    /// Fails the first `failures` calls made with `key`, then answers how many calls it took.
    static let flaky = Tool(
        name: "flaky", description: "Fails the first calls for a key.",
        inputSchema: ["type": "object", "properties": ["key": ["type": "string"], "failures": ["type": "integer"]], "required": ["key", "failures"]]
    ) { input, _ in
        let key = input["key"]?.stringValue ?? ""
        let n = calls.withLock { table in
            table[key, default: 0] += 1
            return table[key, default: 0]
        }
        if n <= input["failures"]?.intValue ?? 0 { throw ToolError("not yet (call \(n))") }
        return ["calls": .number(Double(n))]
    }

    /// A side effect: counts each call per key.
    static let effect = Tool(
        name: "record_effect", description: "Records an effect.", inputSchema: ["type": "object", "properties": ["key": ["type": "string"]]],
        hasSideEffects: true
    ) { input, _ in
        let key = input["key"]?.stringValue ?? ""
        let n = calls.withLock { table in
            table["effect:" + key, default: 0] += 1
            return table["effect:" + key, default: 0]
        }
        return ["key": .string(key), "times": .number(Double(n))]
    }

    static func count(_ key: String) -> Int { calls.withLock { $0[key] ?? 0 } }

    static let pack = DomainPack(name: "flowtest", tools: [flaky, effect])
    static let packs = TestPack.packs + [pack]
}

/// The HTTP application without its own worker, and a worker that runs flow steps (the
/// `parley worker` assembly) which the test drives, with an injected clock.
func withFlowServer(_ kind: DatabaseKind,
                    _ body: @escaping @Sendable (any TestClientProtocol, Seeded, any Store, TestClock, CommsWorker) async throws -> Void) async throws {
    let clock = TestClock()
    try await TestDatabases.withStore(kind, clock: clock) { store in
        let seeded = try await Seeded.make(store, clock: clock)
        // http steps may call the tests' local servers (and no other private address).
        let config = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "2mb", "PARLEY_SERVE_WORKER": "false",
                                                                      "PARLEY_OUTBOUND_ALLOW": "127.0.0.1"]))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try buildApplication(ServerDependencies(config: config, store: store, clock: clock, logger: logger, migrations: ParleySchema.migrations,
                                                          keyring: .random(), packs: FlowTestPack.packs, triggers: []))
        var settings = WorkerSettings()
        // One job at a time: the order in which parallel branches finish is the queue's.
        settings.maxConcurrentJobs = 1
        let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), channel: OutboxChannel(), settings: settings, logger: logger)
        let context = PackContext(store: store, clock: clock, keyring: .random(), config: config, logger: logger, publicBaseURL: "http://localhost",
                                  maxAttempts: 4, wake: {})
        let bound = try AppAssembly.bindAll(FlowTestPack.packs, context: context)
        worker.install(bound.jobHandlers)
        worker.install([AppAssembly.flowEngine(config: config, context: context, packs: FlowTestPack.packs, services: bound.services, logger: logger).handler])
        try await app.test(.router) { client in try await body(client, seeded, store, clock, worker) }
    }
}

extension CommsWorker {
    /// Runs due jobs until none is left; returns how many ran.
    @discardableResult
    func drain() async throws -> Int {
        var total = 0
        for _ in 0..<200 {
            let n = try await runDueJobs()
            if n == 0 { break }
            total += n
        }
        return total
    }
}

extension TestClientProtocol {
    func createFlow(_ key: String, _ flow: JSONValue) async throws -> String {
        let created = try await postJSON(key, "/v1/flows", flow, status: .created)
        return try #require(created["id"]?.stringValue, "\(created)")
    }

    func executeFlow(_ key: String, _ flow: String, _ input: JSONValue = [:]) async throws -> String {
        let e = try await postJSON(key, "/v1/flows/\(flow)/execute", ["input": input], status: .accepted)
        return try #require(e["id"]?.stringValue, "\(e)")
    }

    func execution(_ key: String, _ id: String) async throws -> JSONValue {
        try await getJSON(key, "/v1/flows/executions/\(id)")
    }

    func flowEvents(_ key: String, _ id: String, lastEventID: Int? = nil) async throws -> [StreamedEvent] {
        var headers = auth(key)
        if let lastEventID { headers[HTTPField.Name("Last-Event-ID")!] = String(lastEventID) }
        return try await execute(uri: "/v1/flows/executions/\(id)/events", method: .get, headers: headers) { r in
            #expect(r.status == .ok)
            return parseSSE(String(buffer: r.body))
        }
    }
}

func step(_ id: String, _ type: String, _ config: JSONValue, next: String? = nil, extra: [String: JSONValue] = [:]) -> JSONValue {
    var o: [String: JSONValue] = ["id": .string(id), "type": .string(type), "config": config]
    if let next { o["next"] = .string(next) }
    for (k, v) in extra { o[k] = v }
    return .object(o)
}

func stepView(_ execution: JSONValue, _ id: String) -> JSONValue? {
    execution["steps"]?.arrayValue?.first { $0["id"]?.stringValue == id }
}

@Suite struct FlowTests {
    // MARK: definitions

    @Test(arguments: TestEnv.kinds)
    func definitionsAreVersionedAndBadGraphsAreRefusedNamingTheStep(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, _ in
            let key = seeded.adminKey
            let flow: JSONValue = ["name": "greet", "description": "Says hello",
                                   "input_schema": ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"]],
                                   "steps": [step("hello", "transform", ["output": ["text": "Hello {{input.name}}"]])]]
            let id = try await client.createFlow(key, flow)
            let patched = try await client.patchJSON(key, "/v1/flows/\(id)", ["description": "Greets"])
            #expect(patched["version"] == 2 && patched["description"] == "Greets" && patched["name"] == "greet")
            let byName = try await client.getJSON(key, "/v1/flows/greet")
            #expect(byName["id"]?.stringValue == id && byName["steps"]?[0]?["id"] == "hello")
            let versions = try await client.getJSON(key, "/v1/flows/\(id)/versions?limit=1")
            #expect(versions["data"]?[0]?["version"] == 2 && versions["next_cursor"] == "2")
            let older = try await client.getJSON(key, "/v1/flows/\(id)/versions?before=2")
            #expect(older["data"]?[0]?["definition"]?["description"] == "Says hello")
            let list = try await client.getJSON(key, "/v1/flows")
            #expect(list["data"]?.arrayValue?.count == 1 && list["next_cursor"] == .null)
            let duplicate = try await client.postJSON(key, "/v1/flows", flow, status: .conflict)
            #expect(duplicate["error"]?["code"] == "flow_name_taken")

            // Each bad definition: 400, a code, and the step named in the message.
            let cases: [(JSONValue, String, String)] = [
                (["name": "x", "steps": [step("a", "transform", ["output": 1]), step("a", "transform", ["output": 2])]], "duplicate_step", "'a'"),
                (["name": "x", "steps": [step("a", "teleport", [:])]], "unknown_step_type", "'a'"),
                (["name": "x", "steps": [step("a", "transform", ["output": 1], extra: ["colour": "red"])]], "unknown_field", "'colour'"),
                (["name": "x", "steps": [step("a", "transform", ["output": 1, "shape": 2])]], "unknown_field", "'shape'"),
                (["name": "x", "steps": [step("a", "transform", ["output": 1], next: "ghost")]], "unknown_step", "'ghost'"),
                (["name": "x", "steps": [step("a", "transform", ["output": 1], next: "b"), step("b", "transform", ["output": 1], next: "a")]], "flow_cycle", "'a'"),
                (["name": "x", "steps": [step("a", "transform", ["output": 1]), step("lonely", "transform", ["output": 1])]], "unreachable_step", "'lonely'"),
                (["name": "x", "steps": [step("a", "tool", ["tool": "teleport"])]], "unknown_tool", "'teleport'"),
                (["name": "x", "steps": [step("a", "transform", ["output": "{{steps.nope.output}}"])]], "unknown_step", "'a'"),
                (["name": "x", "steps": [step("a", "transform", ["output": "{{input..x}}"])]], "invalid_template", "'a'"),
                (["name": "x", "steps": [step("a", "condition", ["branches": [["path": "$.input.n", "op": "bigger", "value": 1, "next": .null]]])]], "invalid_step", "'a'"),
                (["name": "x", "steps": [step("a", "delay", ["seconds": -1])]], "invalid_step", "'a'"),
                (["name": "x", "steps": [step("a", "transform", ["output": 1], extra: ["retries": ["max": 99]])]], "invalid_step", "'a'"),
                (["name": "x", "steps": [step("p", "parallel", ["branches": ["b"], "mode": "first"]), step("b", "transform", ["output": 1])]], "invalid_step", "'p'"),
                (["name": "x", "steps": [step("p", "parallel", ["branches": ["b"]]), step("b", "transform", ["output": 1], next: "p")]], "invalid_step", "'b'"),
                (["name": "executions", "steps": [step("a", "transform", ["output": 1])]], "invalid_flow", "reserved"),
                (["name": "x", "steps": []], "invalid_flow", "steps"),
                (["name": "x", "steps": [step("a", "transform", ["output": 1])], "trigger": "cron"], "unknown_field", "'trigger'"),
            ]
            for (body, code, mention) in cases {
                let refused = try await client.postJSON(key, "/v1/flows", body, status: .badRequest)
                #expect(refused["error"]?["code"]?.stringValue == code, "\(body.serialized()) -> \(refused)")
                #expect(refused["error"]?["message"]?.stringValue?.contains(mention) == true, "\(refused)")
            }
            // A PATCH is checked whole; nothing is written when it is refused.
            let badPatch = try await client.patchJSON(key, "/v1/flows/\(id)", ["steps": [step("hello", "transform", ["output": 1], next: "gone")]], status: .badRequest)
            #expect(badPatch["error"]?["code"] == "unknown_step")
            #expect(try await client.getJSON(key, "/v1/flows/\(id)")["version"] == 2)

            // Input is checked against the schema.
            let badInput = try await client.postJSON(key, "/v1/flows/\(id)/execute", ["input": ["name": 42]], status: .badRequest)
            #expect(badInput["error"]?["code"] == "invalid_input")
            let unknown = try await client.postJSON(key, "/v1/flows/nope/execute", ["input": [:]], status: .notFound)
            #expect(unknown["error"]?["code"] == "flow_not_found")
            _ = try await client.getJSON(key, "/v1/flows/executions/not-an-id", status: .badRequest)
            _ = try await client.getJSON(key, "/v1/flows/executions/\(UUIDv7.make(at: Date()))", status: .notFound)

            // Deleted: gone from reads and runs.
            _ = try await client.deleteJSON(key, "/v1/flows/\(id)")
            _ = try await client.getJSON(key, "/v1/flows/\(id)", status: .notFound)
            _ = try await client.postJSON(key, "/v1/flows/greet/execute", ["input": ["name": "A"]], status: .notFound)
        }
    }

    @Test func jsonPathSubset() throws {
        let doc: JSONValue = ["a": ["b": [["n": 1, "open": true], ["n": 2, "open": false], ["n": 3, "open": true]]], "k-ey": "v"]
        #expect(try JSONPath("$.a.b[0].n").evaluate(doc) == 1)
        #expect(try JSONPath("a.b[-1].n").evaluate(doc) == 3)
        #expect(try JSONPath("$.a.b[*].n").evaluate(doc) == [1, 2, 3])
        #expect(try JSONPath("$.a.b[?(@.open == true)].n").evaluate(doc) == [1, 3])
        #expect(try JSONPath("$.a.b[?(@.n >= 2)].n").evaluate(doc) == [2, 3])
        #expect(try JSONPath("$['k-ey']").evaluate(doc) == "v")
        #expect(try JSONPath("$.missing.x").evaluate(doc) == nil)
        #expect(throws: JSONPath.ParseError.self) { try JSONPath("$.a[") }
        #expect(throws: JSONPath.ParseError.self) { try JSONPath("$.a[?(n == 1)]") }
        let context: JSONValue = ["input": ["name": "Ada", "n": 4, "obj": ["x": 1]]]
        #expect(FlowTemplate.render("Hi {{input.name}} ({{input.n}})", context: context) == "Hi Ada (4)")
        #expect(FlowTemplate.render("{{input.obj}}", context: context) == ["x": 1])
        #expect(FlowTemplate.render(["k": ["{{ input.n }}"]], context: context) == ["k": [4]])
        #expect(FlowTemplate.render("{{input.none}}!", context: context) == "!")
    }

    // MARK: executions

    @Test(arguments: TestEnv.kinds)
    func aTenStepTransformChainRunsInOrderAndStreamsResumably(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            var steps: [JSONValue] = [step("s1", "transform", ["output": ["n": "{{input.start}}", "trail": "start"]], next: "s2")]
            for i in 2...10 {
                steps.append(step("s\(i)", "transform", ["output": ["n": "{{steps.s\(i - 1).output.n}}", "trail": "{{steps.s\(i - 1).output.trail}}-\(i)"]],
                                  next: i < 10 ? "s\(i + 1)" : nil))
            }
            steps[9] = step("s10", "transform", ["output": ["n": "{{steps.s9.output.n}}", "trail": "{{steps.s9.output.trail}}-10",
                                                            "names": "{{$.input.items[*].name}}", "open": "{{$.input.items[?(@.open == true)].name}}"]])
            let id = try await client.createFlow(key, ["name": "chain", "steps": .array(steps)])
            let e = try await client.executeFlow(key, id, ["start": 7, "items": [["name": "a", "open": true], ["name": "b", "open": false]]])
            #expect(try await client.execution(key, e)["status"] == "running")
            #expect(try await worker.drain() == 10)
            let done = try await client.execution(key, e)
            #expect(done["status"] == "completed")
            #expect(done["output"] == ["n": 7, "trail": "start-2-3-4-5-6-7-8-9-10", "names": ["a", "b"], "open": ["a"]])
            #expect(done["steps"]?.arrayValue?.count == 10)
            #expect(done["steps"]?.arrayValue?.allSatisfy { $0["status"] == "completed" && $0["attempts"] == 1 && $0["started_at"] != .null } == true)

            let events = try await client.flowEvents(key, e)
            #expect(events.first?.event == "execution_started" && events.last?.event == "execution_completed")
            #expect(events.filter { $0.event == "step_completed" }.count == 10)
            #expect(events.map(\.id) == Array(1...events.count).map { Optional($0) })
            // Resumed after event 5: the rest, from 6.
            let resumed = try await client.flowEvents(key, e, lastEventID: 5)
            #expect(resumed.first?.id == 6 && resumed.count == events.count - 5)
            let listed = try await client.getJSON(key, "/v1/flows/executions?flow=chain&status=completed")
            #expect(listed["data"]?[0]?["id"]?.stringValue == e)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func conditionsChooseTheirBranch(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "route", "steps": [
                step("check", "condition", ["branches": [["path": "$.input.total", "op": "gt", "value": 100, "next": "big"],
                                                         ["path": "$.input.tags", "op": "contains", "value": "vip", "next": "vip"]],
                                            "default": "small"]),
                step("big", "transform", ["output": "big order"]),
                step("vip", "transform", ["output": "vip"]),
                step("small", "transform", ["output": "small order"]),
            ]])
            let big = try await client.executeFlow(key, id, ["total": 250, "tags": []])
            let vip = try await client.executeFlow(key, id, ["total": 5, "tags": ["vip"]])
            let small = try await client.executeFlow(key, id, ["total": 5, "tags": []])
            try await worker.drain()
            let b = try await client.execution(key, big), v = try await client.execution(key, vip), s = try await client.execution(key, small)
            #expect(b["output"] == "big order" && v["output"] == "vip" && s["output"] == "small order")
            #expect(stepView(b, "check")?["output"]?["branch"] == 0 && stepView(s, "check")?["output"]?["branch"] == "default")
            #expect(stepView(b, "small") == nil && stepView(s, "big") == nil)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func parallelWaitsForAllAnyOrTheFirstN(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            func flow(_ name: String, mode: JSONValue, count: Int? = nil, failing: Bool = false) -> JSONValue {
                var config: [String: JSONValue] = ["branches": ["a", "b", "c"], "mode": mode]
                if let count { config["count"] = .number(Double(count)) }
                return ["name": .string(name), "steps": [
                    step("fan", "parallel", .object(config), next: "join"),
                    step("a", "transform", ["output": "A"]),
                    step("b", "tool", ["tool": "echo", "input": ["text": "B"]]),
                    failing ? step("c", "tool", ["tool": "explode"]) : step("c", "transform", ["output": "C"]),
                    step("join", "transform", ["output": ["got": "{{steps.fan.output.completed}}"]]),
                ]]
            }
            let all = try await client.executeFlow(key, try await client.createFlow(key, flow("all", mode: "all")))
            try await worker.drain()
            let allDone = try await client.execution(key, all)
            #expect(allDone["status"] == "completed" && allDone["output"]?["got"] == ["a", "b", "c"])
            #expect(stepView(allDone, "fan")?["output"]?["branches"]?["b"] == ["text": "B"])

            let any = try await client.executeFlow(key, try await client.createFlow(key, flow("any", mode: "any")))
            try await worker.drain()
            let anyDone = try await client.execution(key, any)
            #expect(anyDone["status"] == "completed" && anyDone["output"]?["got"] == ["a"])
            #expect(stepView(anyDone, "b")?["status"] == "skipped" && stepView(anyDone, "c")?["status"] == "skipped")

            let first = try await client.executeFlow(key, try await client.createFlow(key, flow("first2", mode: "first", count: 2, failing: true)))
            try await worker.drain()
            let firstDone = try await client.execution(key, first)
            #expect(firstDone["status"] == "completed" && firstDone["output"]?["got"] == ["a", "b"])

            // All of them, one failing: the parallel step fails, and so does the execution.
            let broken = try await client.executeFlow(key, try await client.createFlow(key, flow("allfail", mode: "all", failing: true)))
            try await worker.drain()
            let brokenDone = try await client.execution(key, broken)
            #expect(brokenDone["status"] == "failed" && stepView(brokenDone, "fan")?["status"] == "failed")
            #expect(brokenDone["error"]?.stringValue?.contains("c:") == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func approvalsApproveRejectAndBranchOnRejection(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "signoff", "steps": [
                step("ask", "approval", ["message": "Refund {{input.amount}}?"], next: "done"),
                step("done", "transform", ["output": ["approved_by": "{{steps.ask.output.by}}"]]),
            ]])
            let approved = try await client.executeFlow(key, id, ["amount": 30])
            try await worker.drain()
            let waiting = try await client.execution(key, approved)
            #expect(waiting["status"] == "waiting" && stepView(waiting, "ask")?["approval"] == "pending")
            let events = try await client.getJSON(key, "/v1/flows/executions/\(approved)")
            #expect(stepView(events, "ask")?["status"] == "waiting")
            let notWaiting = try await client.postJSON(key, "/v1/flows/executions/\(approved)/steps/done/decision", ["decision": "approve"], status: .conflict)
            #expect(notWaiting["error"]?["code"] == "step_not_waiting")
            let badDecision = try await client.postJSON(key, "/v1/flows/executions/\(approved)/steps/ask/decision", ["decision": "maybe"], status: .badRequest)
            #expect(badDecision["error"]?["code"] == "invalid_decision")
            let decided = try await client.postJSON(key, "/v1/flows/executions/\(approved)/steps/ask/decision", ["decision": "approve", "comment": "fine"])
            #expect(decided["status"] == "completed" && decided["output"]?["comment"] == "fine")
            try await worker.drain()
            let done = try await client.execution(key, approved)
            #expect(done["status"] == "completed" && done["output"]?["approved_by"]?.stringValue?.hasPrefix("api_key:") == true)

            let rejected = try await client.executeFlow(key, id, ["amount": 9000])
            try await worker.drain()
            _ = try await client.postJSON(key, "/v1/flows/executions/\(rejected)/steps/ask/decision", ["decision": "reject", "comment": "too much"])
            let failed = try await client.execution(key, rejected)
            #expect(failed["status"] == "failed" && failed["error"]?.stringValue?.contains("too much") == true)
            #expect(stepView(failed, "done") == nil)

            // With on_reject, a rejection is a branch.
            let branching = try await client.createFlow(key, ["name": "signoff2", "steps": [
                step("ask", "approval", ["on_reject": "declined"], next: "done"),
                step("done", "transform", ["output": "went ahead"]),
                step("declined", "transform", ["output": "declined"]),
            ]])
            let declined = try await client.executeFlow(key, branching)
            try await worker.drain()
            _ = try await client.postJSON(key, "/v1/flows/executions/\(declined)/steps/ask/decision", ["decision": "reject"])
            try await worker.drain()
            #expect(try await client.execution(key, declined)["output"] == "declined")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aDelaySleepsInTheQueueUntilTheClockReachesIt(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, clock, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "later", "steps": [
                step("wait", "delay", ["seconds": 3600], next: "after"),
                step("after", "transform", ["output": "woke"]),
            ]])
            let e = try await client.executeFlow(key, id)
            try await worker.drain()
            let sleeping = try await client.execution(key, e)
            #expect(sleeping["status"] == "running" && stepView(sleeping, "wait")?["status"] == "waiting")
            clock.advance(by: 3599)
            #expect(try await worker.drain() == 0)
            clock.advance(by: 1)
            try await worker.drain()
            let done = try await client.execution(key, e)
            #expect(done["status"] == "completed" && done["output"] == "woke")
            #expect(stepView(done, "wait")?["output"]?["waited_seconds"] == 3600)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func toolStepsFollowTheTenantsPolicy(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            let echo = try await client.createFlow(key, ["name": "echoer", "steps": [step("say", "tool", ["tool": "echo", "input": ["text": "hi {{input.who}}"]])]])
            let e = try await client.executeFlow(key, echo, ["who": "Bo"])
            try await worker.drain()
            let done = try await client.execution(key, e)
            #expect(done["status"] == "completed" && done["output"] == ["text": "hi Bo"])
            #expect(stepView(done, "say")?["input"]?["input"] == ["text": "hi Bo"])

            // A side-effecting tool asks first (its default policy), then runs once approved.
            let tag = UUIDv7.make(at: Date())
            let effect = try await client.createFlow(key, ["name": "effect", "steps": [step("act", "tool", ["tool": "record_effect", "input": ["key": .string(tag)]])]])
            let held = try await client.executeFlow(key, effect)
            try await worker.drain()
            #expect(try await client.execution(key, held)["status"] == "waiting")
            #expect(FlowTestPack.count("effect:" + tag) == 0)
            let pending = try await client.postJSON(key, "/v1/flows/executions/\(held)/steps/act/decision", ["decision": "approve"])
            #expect(pending["status"] == "pending" && pending["approval"] == "approved")
            try await worker.drain()
            let ran = try await client.execution(key, held)
            #expect(ran["status"] == "completed" && ran["output"]?["times"] == 1 && FlowTestPack.count("effect:" + tag) == 1)

            // Disabled by policy: the step fails saying so.
            _ = try await client.putJSON(key, "/v1/tools/echo/policy", ["mode": "disabled"])
            let refused = try await client.executeFlow(key, echo, ["who": "Cy"])
            try await worker.drain()
            let failed = try await client.execution(key, refused)
            #expect(failed["status"] == "failed" && failed["error"]?.stringValue?.contains("disables the tool 'echo'") == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anAgentStepRunsAnAgentDefinition(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "ask-agent", "steps": [
                step("answer", "agent", ["agent": "assistant", "message": "Please tell me about {{input.topic}}"], next: "wrap"),
                step("wrap", "transform", ["output": ["run": "{{steps.answer.output.run_id}}", "text": "{{steps.answer.output.text}}"]]),
            ]])
            let e = try await client.executeFlow(key, id, ["topic": "quantum gardening"])
            try await worker.drain()
            let done = try await client.execution(key, e)
            #expect(done["status"] == "completed", "\(done)")
            let run = try #require(done["output"]?["run"]?.stringValue)
            #expect(done["output"]?["text"]?.stringValue?.isEmpty == false)
            // The run is an ordinary agent run, readable like any other.
            let workflow = try await client.getJSON(key, "/v1/workflows/\(run)")
            #expect(workflow["status"] == "COMPLETED" && workflow["initial_prompt"] == "Please tell me about quantum gardening")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aSubFlowRunsAsItsOwnExecution(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            _ = try await client.createFlow(key, ["name": "double", "input_schema": ["type": "object", "properties": ["x": ["type": "number"]], "required": ["x"]],
                                                  "steps": [step("d", "transform", ["output": ["twice": ["{{input.x}}", "{{input.x}}"]]])]])
            let parent = try await client.createFlow(key, ["name": "parent", "steps": [
                step("child", "sub_flow", ["flow": "double", "input": ["x": "{{input.x}}"]], next: "end"),
                step("end", "transform", ["output": "{{steps.child.output.twice}}"]),
            ]])
            let e = try await client.executeFlow(key, parent, ["x": 21])
            try await worker.drain()
            let done = try await client.execution(key, e)
            #expect(done["status"] == "completed" && done["output"] == [21, 21])
            let childID = try #require(stepView(done, "child")?["handle"]?.stringValue)
            let child = try await client.execution(key, childID)
            #expect(child["status"] == "completed" && child["parent_execution_id"]?.stringValue == e)

            // A child's input that its schema refuses fails the parent's step (no retry can help).
            let bad = try await client.executeFlow(key, parent, ["x": "not a number"])
            try await worker.drain()
            let failed = try await client.execution(key, bad)
            #expect(failed["status"] == "failed" && failed["error"]?.stringValue?.contains("input_schema") == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func retriesBackOffExponentiallyThenSucceed(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, clock, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "flaky", "steps": [
                step("try", "tool", ["tool": "flaky", "input": ["key": "{{execution.id}}", "failures": 2]],
                     extra: ["retries": ["max": 3, "backoff_seconds": 10, "factor": 2]]),
            ]])
            let e = try await client.executeFlow(key, id)
            #expect(try await worker.drain() == 1)
            #expect(stepView(try await client.execution(key, e), "try")?["status"] == "retrying")
            clock.advance(by: 9.9)
            #expect(try await worker.drain() == 0)
            clock.advance(by: 0.1)
            #expect(try await worker.drain() == 1)
            clock.advance(by: 19.9)
            #expect(try await worker.drain() == 0)
            clock.advance(by: 0.1)
            #expect(try await worker.drain() == 1)
            let done = try await client.execution(key, e)
            #expect(done["status"] == "completed" && done["output"]?["calls"] == 3 && stepView(done, "try")?["attempts"] == 3)
            let events = try await client.flowEvents(key, e)
            #expect(events.filter { $0.event == "step_retrying" }.count == 2)

            // Out of retries: the execution fails with the step's last error.
            let hopeless = try await client.createFlow(key, ["name": "hopeless", "steps": [
                step("try", "tool", ["tool": "explode"], extra: ["retries": ["max": 1, "backoff_seconds": 1]]),
            ]])
            let h = try await client.executeFlow(key, hopeless)
            try await worker.drain()
            clock.advance(by: 1)
            try await worker.drain()
            let gaveUp = try await client.execution(key, h)
            #expect(gaveUp["status"] == "failed" && stepView(gaveUp, "try")?["attempts"] == 2)
            #expect(gaveUp["error"]?.stringValue?.contains("hunter2") == false)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func cancelStopsAtTheNextStepBoundary(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, _, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "stoppable", "steps": [
                step("one", "transform", ["output": 1], next: "gate"),
                step("gate", "approval", [:], next: "two"),
                step("two", "transform", ["output": 2]),
            ]])
            // Cancelled before any step ran: nothing runs.
            let early = try await client.executeFlow(key, id)
            let cancelled = try await client.postJSON(key, "/v1/flows/executions/\(early)/cancel", [:])
            #expect(cancelled["status"] == "cancelled")
            try await worker.drain()
            let e1 = try await client.execution(key, early)
            #expect(stepView(e1, "one")?["status"] == "cancelled" && e1["status"] == "cancelled")
            let again = try await client.postJSON(key, "/v1/flows/executions/\(early)/cancel", [:], status: .conflict)
            #expect(again["error"]?["code"] == "execution_finished")

            // Cancelled while waiting for a person: the decision comes too late.
            let waiting = try await client.executeFlow(key, id)
            try await worker.drain()
            _ = try await client.postJSON(key, "/v1/flows/executions/\(waiting)/cancel", [:])
            let late = try await client.postJSON(key, "/v1/flows/executions/\(waiting)/steps/gate/decision", ["decision": "approve"], status: .conflict)
            #expect(late["error"]?["code"] == "execution_finished")
            try await worker.drain()
            let e2 = try await client.execution(key, waiting)
            #expect(e2["status"] == "cancelled" && stepView(e2, "one")?["status"] == "completed" && stepView(e2, "two") == nil)
            let events = try await client.flowEvents(key, waiting)
            #expect(events.last?.event == "execution_cancelled")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aStepOverItsTimeoutFailsAndIsRetried(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, _, clock, worker in
            let key = seeded.adminKey
            // `hang` never finishes; the step gives it 50 ms, twice.
            let id = try await client.createFlow(key, ["name": "slow", "steps": [
                step("wait", "tool", ["tool": "hang"], extra: ["timeout_seconds": 0.05, "retries": ["max": 1, "backoff_seconds": 1]]),
            ]])
            let e = try await client.executeFlow(key, id)
            try await worker.drain()
            #expect(stepView(try await client.execution(key, e), "wait")?["status"] == "retrying")
            clock.advance(by: 1)
            try await worker.drain()
            let failed = try await client.execution(key, e)
            #expect(failed["status"] == "failed" && stepView(failed, "wait")?["attempts"] == 2)
            #expect(failed["error"]?.stringValue?.contains("did not finish in time") == true)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func sendMessageGoesThroughTheCommsEngineOnceEvenWhenRepeated(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, store, clock, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "notify", "steps": [
                step("mail", "send_message", ["channel": "email", "to": "{{input.email}}", "subject": "Order {{input.order}}",
                                              "text": "Your order {{input.order}} has shipped."]),
            ]])
            let e = try await client.executeFlow(key, id, ["email": "ana@example.com", "order": "A-17"])
            try await worker.drain()
            let done = try await client.execution(key, e)
            #expect(done["status"] == "completed" && done["output"]?["created"] == true)
            let messageID = try #require(done["output"]?["message_id"]?.stringValue)
            let message = try await client.getJSON(key, "/v1/messages/\(messageID)")
            #expect(message["status"] == "sent" && message["subject"] == "Order A-17" && message["to"] == "ana@example.com")

            // The step again, as after a worker died mid-attempt: the same message, not a second one.
            try await store.transaction { db in
                try await db.raw("UPDATE flow_steps SET status = 'running' WHERE execution_id = \(bind: e)").run()
                try await db.raw("UPDATE flow_executions SET status = 'running', finished_at = NULL WHERE id = \(bind: e)").run()
            }
            let payload = JSONValue.object(["execution_id": .string(e), "step_id": "mail"]).serialized()
            _ = try await JobQueue(store: store, clock: clock).enqueue(NewJob(tenantID: seeded.tenant.id, type: FlowEngine.jobType, payload: payload, runAt: clock.now()))
            try await worker.drain()
            let again = try await client.execution(key, e)
            #expect(again["status"] == "completed" && again["output"]?["message_id"]?.stringValue == messageID && again["output"]?["created"] == false)
            let outbox = try await store.read { db in try await CommsCrashTests.count("SELECT COUNT(*) AS n FROM outbox", db) }
            #expect(outbox == 1, "sent once")

            // A recipient the engine refuses fails the step at once.
            let bad = try await client.executeFlow(key, id, ["email": "not-an-address", "order": "B-1"])
            try await worker.drain()
            let refused = try await client.execution(key, bad)
            #expect(refused["status"] == "failed" && refused["error"]?.stringValue?.contains("refused") == true && stepView(refused, "mail")?["attempts"] == 1)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func httpStepsCallOnlyAllowedHostsThroughTheOutboundGuard(_ kind: DatabaseKind) async throws {
        try await CommsFakeProviderServer.with(.json(503, #"{"busy":true}"#), .json(200, #"{"price": 12.5}"#)) { baseURL, server in
            try await withFlowServer(kind) { client, seeded, _, clock, worker in
                let key = seeded.adminKey
                let id = try await client.createFlow(key, ["name": "quote", "steps": [
                    step("fetch", "http", ["method": "POST", "url": .string(baseURL + "/quote/{{input.sku}}"), "allow_hosts": ["127.0.0.1"],
                                           "headers": ["Authorization": "Bearer sk-live-secret", "X-Sku": "{{input.sku}}"], "body": ["sku": "{{input.sku}}"]],
                         extra: ["retries": ["max": 1, "backoff_seconds": 5], "idempotent": true]),
                ]])
                let e = try await client.executeFlow(key, id, ["sku": "A1"])
                try await worker.drain()
                #expect(stepView(try await client.execution(key, e), "fetch")?["status"] == "retrying", "a 503 is retried")
                clock.advance(by: 5)
                try await worker.drain()
                let done = try await client.execution(key, e)
                #expect(done["status"] == "completed" && done["output"] == ["status": 200, "body": ["price": 12.5]])
                let sent = server.requests
                #expect(sent.count == 2 && sent.last?.path == "/quote/A1" && sent.last?.method == "POST")
                #expect(sent.last?.headers["authorization"] == "Bearer sk-live-secret" && sent.last?.headers["x-sku"] == "A1")
                #expect(sent.last?.body == #"{"sku":"A1"}"#)
                // The stored input keeps no credential.
                let stored = stepView(done, "fetch")?["input"]?["headers"]
                #expect(stored?["Authorization"] == "<redacted>" && stored?["X-Sku"] == "A1")

                // A host outside the step's list, a literal one at save, a templated one at run time.
                let refused = try await client.postJSON(key, "/v1/flows", ["name": "bad", "steps": [
                    step("x", "http", ["url": "https://evil.example/steal", "allow_hosts": ["api.example.com"]]),
                ]], status: .badRequest)
                #expect(refused["error"]?["message"]?.stringValue?.contains("'evil.example'") == true)
                let templated = try await client.createFlow(key, ["name": "templated", "steps": [
                    step("x", "http", ["url": "{{input.url}}", "allow_hosts": ["api.example.com", "10.1.2.3"]]),
                ]])
                let elsewhere = try await client.executeFlow(key, templated, ["url": "https://evil.example/steal"])
                // On the list, but a private address the installation does not allow: the guard refuses it.
                let privateAddress = try await client.executeFlow(key, templated, ["url": "http://10.1.2.3/admin"])
                try await worker.drain()
                let e1 = try await client.execution(key, elsewhere), e2 = try await client.execution(key, privateAddress)
                #expect(e1["status"] == "failed" && e1["error"]?.stringValue?.contains("not in the step's allow_hosts") == true)
                #expect(e2["status"] == "failed" && stepView(e2, "x")?["attempts"] == 1, "\(e2)")
                #expect(server.requests.count == 2)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aLiveStreamFollowsTheExecutionAndEndsWithReconnectAtShutdown(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, store, clock, worker in
            let key = seeded.adminKey
            let id = try await client.createFlow(key, ["name": "gate", "steps": [
                step("ask", "approval", [:], next: "done"),
                step("done", "transform", ["output": "through"]),
            ]])
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            // Another process's view of the same database: streams read the stored log.
            let flows = FlowService(engine: FlowEngine(store: store, clock: clock, tools: nil, agents: nil, toolNames: [], logger: logger, wake: {}))
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .viewer, actor: "test")
            let e = try await client.executeFlow(key, id)
            try await worker.drain()
            var live = try await flows.follow(principal, id: e, after: 0).makeAsyncIterator()
            var seen: [String] = []
            while let item = await live.next() {
                guard case .event(let event) = item else { continue }
                seen.append(event.type)
                if event.type == "approval_required" { break }
            }
            _ = try await client.postJSON(key, "/v1/flows/executions/\(e)/steps/ask/decision", ["decision": "approve"])
            try await worker.drain()
            while let item = await live.next() {
                if case .event(let event) = item { seen.append(event.type) }
            }
            #expect(seen == ["execution_started", "step_started", "approval_required", "approval_resolved", "step_completed", "step_started",
                             "step_completed", "execution_completed"])

            // A stream still open at shutdown ends with `reconnect` after the last event it sent.
            let waiting = try await client.executeFlow(key, id)
            try await worker.drain()
            var open = try await flows.follow(principal, id: waiting, after: 0).makeAsyncIterator()
            var last = 0
            while let item = await open.next() {
                guard case .event(let event) = item else { continue }
                last = event.seq
                if event.type == "approval_required" { break }
            }
            #expect(flows.streams.count == 1)
            flows.streams.finishAll()
            #expect(await open.next() == .reconnect(executionID: waiting, lastSeq: last))
            #expect(await open.next() == nil)
            var late = try await flows.follow(principal, id: waiting, after: 0).makeAsyncIterator()
            #expect(await late.next() == .reconnect(executionID: waiting, lastSeq: 0))
        }
    }

    /// A step with side effects whose attempt was interrupted (its worker died after recording
    /// it as running) is not run again unless marked idempotent.
    @Test(arguments: TestEnv.kinds)
    func anInterruptedSideEffectIsRepeatedOnlyWhenIdempotent(_ kind: DatabaseKind) async throws {
        try await withFlowServer(kind) { client, seeded, store, _, worker in
            let key = seeded.adminKey
            _ = try await client.putJSON(key, "/v1/tools/record_effect/policy", ["mode": "auto"])
            for idempotent in [false, true] {
                let tag = UUIDv7.make(at: Date())
                let id = try await client.createFlow(key, ["name": .string("effect-\(idempotent)"), "steps": [
                    step("act", "tool", ["tool": "record_effect", "input": ["key": .string(tag)]], extra: ["idempotent": .bool(idempotent)]),
                ]])
                let e = try await client.executeFlow(key, id)
                // As a worker that died mid-attempt leaves it.
                try await store.transaction { db in
                    try await db.raw("UPDATE flow_steps SET status = 'running', attempts = 1 WHERE execution_id = \(bind: e)").run()
                }
                try await worker.drain()
                let after = try await client.execution(key, e)
                if idempotent {
                    #expect(after["status"] == "completed" && stepView(after, "act")?["attempts"] == 2 && FlowTestPack.count("effect:" + tag) == 1)
                } else {
                    #expect(after["status"] == "failed" && after["error"]?.stringValue?.contains("not marked idempotent") == true)
                    #expect(FlowTestPack.count("effect:" + tag) == 0)
                }
            }
        }
    }
}

/// Durability under crashes: real `parley worker` processes run executions and are SIGKILLed in
/// the middle of them; the next process resumes each execution at the step it was in, and no
/// completed step runs again. Serialized, like the comms crash tests.
@Suite(.serialized) struct FlowCrashTests {
    @Test(arguments: TestEnv.kinds)
    func executionsSurviveSIGKILLAndNoCompletedStepRunsTwice(_ kind: DatabaseKind) async throws {
        try await TestDatabases.withFreshURL(kind) { url in
            let clock = SystemClock()
            let store = try await Stores.open(url, config: StoreOptions.test(maxConnections: 4))
            do {
                try await Migrator(store: store, migrations: ParleySchema.migrations).migrate(at: clock.now())
                let tenant = try await TenantService(store: store, clock: clock).create(name: "Crash", slug: "crash", timeZone: "UTC", actor: "test")
                let ctx = ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
                var logger = Logger(label: "test")
                logger.logLevel = .critical
                let flows = FlowService(engine: FlowEngine(store: store, clock: clock, tools: nil, agents: nil, toolNames: [], logger: logger, wake: {}))
                var steps: [JSONValue] = []
                for i in 1...10 {
                    let previous = i == 1 ? "{{input.i}}" : "{{steps.s\(i - 1).output.trail}}"
                    steps.append(step("s\(i)", "transform", ["output": ["trail": .string("\(previous)-\(i)")]], next: i < 10 ? "s\(i + 1)" : nil))
                }
                _ = try await flows.create(ctx, ["name": "chain", "steps": .array(steps)])
                let total = 60
                for i in 0..<total { _ = try await flows.execute(ctx, ref: "chain", input: ["i": .number(Double(i))]) }
                // The work left is the steps not completed yet; the kills are spread over it.
                let kills = try await CommsCrashTests.drainThroughKills(store: store, url: url, kills: 3) {
                    try await store.read { db in
                        total * 10 - (try await CommsCrashTests.count("SELECT COUNT(*) AS n FROM flow_events WHERE type = 'step_completed'", db))
                    }
                }
                #expect(kills == 3)
                let (completed, stepEvents, repeated, outputs) = try await store.read { db in
                    (try await CommsCrashTests.count("SELECT COUNT(*) AS n FROM flow_executions WHERE status = 'completed'", db),
                     try await CommsCrashTests.count("SELECT COUNT(*) AS n FROM flow_events WHERE type = 'step_completed'", db),
                     try await CommsCrashTests.count("""
                        SELECT COUNT(*) AS n FROM (SELECT execution_id, step_id FROM flow_events WHERE type = 'step_completed'
                        GROUP BY execution_id, step_id HAVING COUNT(*) > 1) AS twice
                        """, db),
                     try await db.raw("SELECT input, output FROM flow_executions").all().map {
                         (try $0.decode(column: "input", as: String.self), try $0.decode(column: "output", as: String?.self))
                     })
                }
                #expect(completed == total)
                #expect(stepEvents == total * 10 && repeated == 0, "every step completed exactly once")
                for (input, output) in outputs {
                    let i = try JSONValue.parse(input)["i"]?.intValue ?? -1
                    #expect(try output.map { try JSONValue.parse($0) } == ["trail": .string("\(i)-1-2-3-4-5-6-7-8-9-10")])
                }
                await store.shutdown()
            } catch {
                await store.shutdown()
                throw error
            }
        }
    }
}
