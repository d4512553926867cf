import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import ParleyCore
import ParleyStorage
import Testing

/// `POST /v1/chat/completions` and `GET /v1/models` (docs/openai-compatible.md): the official
/// `openai` Python package against a live server, and the bad inputs through the router.
@Suite struct OpenAICompatibleTests {
    static let python = ProcessInfo.processInfo.environment["PARLEY_TEST_PYTHON"] ?? "python3"
    static let script = TestEnv.packageRoot.appendingPathComponent("Tests/clients/openai_client_check.py")

    @Test(arguments: TestEnv.kinds)
    func theOfficialClientListsAgentsAsModelsAndRunsThem(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, testing: .live) { client, seeded, _, _ in
            let port = try #require(client.port)
            let (status, output) = try await runCommand("/usr/bin/env", [Self.python, Self.script.path, "http://127.0.0.1:\(port)",
                                                                         seeded.adminKey, "assistant", "Give me an account overview"])
            #expect(status == 0, "\(output)")
            let line = try #require(output.split(separator: "\n").last, "\(output)")
            let seen = try JSONValue.parse(String(line))

            #expect(seen["models"]?.arrayValue?.contains("assistant") == true, "\(seen)")
            #expect(seen["retrieve"] == "assistant", "\(seen)")

            let plain = try #require(seen["plain"], "\(seen)")
            #expect(plain["object"] == "chat.completion" && plain["role"] == "assistant" && plain["finish_reason"] == "stop", "\(plain)")
            #expect(plain["content"]?.stringValue?.isEmpty == false, "\(plain)")
            #expect(plain["usage"]?["total_tokens"]?.intValue != nil, "\(plain)")
            let plainRun = try #require(plain["workflow_id"]?.stringValue, "\(plain)")
            #expect(plain["id"]?.stringValue == "chatcmpl-\(plainRun)")

            let streamed = try #require(seen["streamed"], "\(seen)")
            #expect(streamed["objects"] == ["chat.completion.chunk"], "\(streamed)")
            #expect(streamed["content"]?.stringValue?.isEmpty == false, "\(streamed)")
            #expect(streamed["finish"] == ["stop"], "\(streamed)")
            #expect(streamed["usage"]?["total_tokens"]?.intValue != nil && streamed["usage_only_last"] == true, "\(streamed)")

            // The tool ran on the server, in a run the answer names.
            let tools = try #require(seen["tools"], "\(seen)")
            let run = try #require(tools["workflow_id"]?.stringValue, "\(tools)")
            let workflow = try await client.getJSON(seeded.adminKey, "/v1/workflows/\(run)")
            #expect(workflow["status"] == "COMPLETED", "\(workflow)")
            #expect(workflow["tools_used"]?.arrayValue?.isEmpty == false, "\(workflow)")
            #expect(tools["content"]?.stringValue == workflow["final_response"]?.stringValue)

            // Errors raise the SDK's classes, chosen by status.
            #expect(seen["bad_model"]?["raised"] == "NotFoundError", "\(seen)")
            #expect(seen["bad_key"]?["raised"] == "AuthenticationError", "\(seen)")
            #expect(seen["client_tools"]?["raised"] == "BadRequestError", "\(seen)")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aRunWaitingForApprovalAnswersWithItsIDInsteadOfHanging(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            let body: JSONValue = ["model": "assistant", "messages": [["role": "user", "content": "please revoke the api key named admin"]]]
            let answer = try await client.postJSON(seeded.adminKey, "/v1/chat/completions", body)
            let run = try #require(answer["parley"]?["workflow_id"]?.stringValue, "\(answer)")
            #expect(answer["parley"]?["status"] == "WAITING", "\(answer)")
            let text = answer["choices"]?[0]?["message"]?["content"]?.stringValue ?? ""
            #expect(text.contains(run) && text.contains("approval"), "\(text)")
            let workflow = try await client.getJSON(seeded.adminKey, "/v1/workflows/\(run)")
            #expect(workflow["status"] == "WAITING_APPROVAL", "\(workflow)")
        }
    }

    @Test(arguments: [
        (#"{"model":"assistant","messages":[]}"#, "invalid_request"),
        (#"{"messages":[{"role":"user","content":"hi"}]}"#, "invalid_request"),
        (#"{"model":"assistant","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ok"}]}"#, "invalid_request"),
        (#"{"model":"assistant","messages":[{"role":"tool","content":"42","tool_call_id":"c1"}]}"#, "unknown_field"),
        (#"{"model":"assistant","messages":[{"role":"tool","content":"42"}]}"#, "invalid_request"),
        (#"{"model":"assistant","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#, "invalid_request"),
        (#"{"model":"assistant","messages":[{"role":"user","content":"hi"}],"n":2}"#, "invalid_request"),
        (#"{"model":"assistant","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#, "invalid_request"),
        (#"{"model":"assistant","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"usage":true}}"#, "unknown_field"),
        (#"{"model":"assistant","messages":[{"role":"user","content":"hi"}],"temprature":0.2}"#, "unknown_field"),
        (#"{"model":"assistant","messages":[{"role":"user","content":"hi"}],"tool_choice":"auto"}"#, "unsupported_parameter"),
    ])
    func badRequestsAre400InOpenAIsErrorShape(_ body: String, _ code: String) async throws {
        try await withAgentServer(.sqlite) { client, seeded, _, _ in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: auth(seeded.adminKey, json: true), body: ByteBuffer(string: body)) { r in
                #expect(r.status == .badRequest, "\(body): \(String(buffer: r.body))")
                let error = try JSONValue.parse(String(buffer: r.body))["error"]
                #expect(error?["code"]?.stringValue == code, "\(body): \(String(buffer: r.body))")
                #expect(error?["type"] == "invalid_request_error" && error?["param"] == .null && error?["message"]?.stringValue?.isEmpty == false)
            }
        }
    }

    @Test func anUnknownModelIs404AndAMissingKey401InOpenAIsShape() async throws {
        try await withAgentServer(.sqlite) { client, seeded, _, _ in
            let body = ByteBuffer(string: #"{"model":"nobody","messages":[{"role":"user","content":"hi"}]}"#)
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: auth(seeded.adminKey, json: true), body: body) { r in
                #expect(r.status == .notFound)
                let error = try JSONValue.parse(String(buffer: r.body))["error"]
                #expect(error?["type"] == "not_found_error" && error?["code"] == "model_not_found", "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/v1/models/nobody", method: .get, headers: auth(seeded.adminKey)) { r in
                #expect(r.status == .notFound)
            }
            try await client.execute(uri: "/v1/models", method: .get) { r in
                #expect(r.status == .unauthorized)
                let error = try JSONValue.parse(String(buffer: r.body))["error"]
                #expect(error?["type"] == "authentication_error")
            }
            // Other routes keep Parley's own envelope.
            try await client.execute(uri: "/v1/tenant", method: .get) { r in
                let error = try JSONValue.parse(String(buffer: r.body))["error"]
                #expect(error?["type"] == nil && error?["code"] != nil)
            }
        }
    }

    @Test func overTheLimitIs429InOpenAIsShapeWithRetryAfter() async throws {
        try await withAgentServer(.sqlite, env: ["PARLEY_RATE_LIMIT_KEY_BURST": "1", "PARLEY_RATE_LIMIT_KEY_PER_MINUTE": "1"]) { client, seeded, _, _ in
            try await client.execute(uri: "/v1/models", method: .get, headers: auth(seeded.adminKey)) { r in #expect(r.status == .ok) }
            try await client.execute(uri: "/v1/models", method: .get, headers: auth(seeded.adminKey)) { r in
                #expect(r.status == .tooManyRequests)
                #expect(r.headers[.retryAfter] != nil)
                let error = try JSONValue.parse(String(buffer: r.body))["error"]
                #expect(error?["type"] == "rate_limit_error" && error?["code"] == "rate_limited", "\(String(buffer: r.body))")
            }
        }
    }
}
