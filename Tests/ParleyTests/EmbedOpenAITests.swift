import Foundation
import ParleyCore
@testable import ParleyEmbed
import Testing

/// The OpenAI-compatible embeddings client against a local server speaking the wire format, and
/// the settings that choose an embedder.
@Suite struct EmbedOpenAITests {
    static let apiKey = "sk-embed-test-0123456789abcdef"

    static func embedder(_ baseURL: String, apiKey: String? = apiKey, dimensions: Int = 3, batchSize: Int = 64,
                         timeout: Duration = .seconds(30)) -> OpenAICompatibleEmbedder {
        OpenAICompatibleEmbedder(configuration: .init(baseURL: baseURL, model: "text-embedding-3-small", apiKey: apiKey,
                                                      dimensions: dimensions, batchSize: batchSize, timeout: timeout))
    }

    /// An embeddings answer with `vectors` at their indices, listed in `order`.
    static func answer(_ vectors: [[Float]], order: [Int]? = nil) -> ReplayResponse {
        let items = (order ?? Array(vectors.indices)).map { i in
            #"{"object":"embedding","index":\#(i),"embedding":[\#(vectors[i].map { "\($0)" }.joined(separator: ","))]}"#
        }
        return ReplayResponse(headers: ["content-type": "application/json"], steps: [.text(
            #"{"object":"list","data":[\#(items.joined(separator: ","))],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#)])
    }

    @Test func sendsTheDocumentedRequestAndOrdersByIndex() async throws {
        // The server lists the vectors out of order; they come back by index, normalised.
        try await ProviderTestServer.with(Self.answer([[3, 4, 0], [0, 0, 2]], order: [1, 0])) { baseURL, server in
            let vectors = try await Self.embedder(baseURL).embed(["first text", "second"])
            #expect(vectors == [[0.6, 0.8, 0], [0, 0, 1]])
            let request = try server.onlyRequest()
            #expect(request.method == "POST")
            #expect(request.path == "/v1/embeddings")
            #expect(request.headers["authorization"] == "Bearer \(Self.apiKey)")
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.json == ["model": "text-embedding-3-small", "input": ["first text", "second"]])
        }
    }

    @Test func batchesLongListsAndSendsNoKeyWhenNoneIsSet() async throws {
        let script = [Self.answer([[1, 0, 0], [0, 1, 0]]), Self.answer([[0, 0, 1], [1, 1, 0]]), Self.answer([[2, 0, 0]])]
        try await ProviderTestServer.with(script: script) { baseURL, server in
            // A base URL that already ends in /v1 (as Ollama's documentation writes it) is not doubled.
            let vectors = try await Self.embedder(baseURL + "/v1/", apiKey: nil, batchSize: 2).embed(["a", "b", "c", "d", "e"])
            #expect(vectors.count == 5)
            #expect(vectors[4] == [1, 0, 0])
            #expect(abs(vectors[3][0] - 0.70710677) < 1e-6)
            let requests = server.requests
            #expect(requests.map(\.path) == ["/v1/embeddings", "/v1/embeddings", "/v1/embeddings"])
            #expect(requests.map { $0.json?["input"] } == [["a", "b"], ["c", "d"], ["e"]])
            #expect(requests.allSatisfy { $0.headers["authorization"] == nil })
        }
    }

    @Test func emptyInputMakesNoRequest() async throws {
        try await ProviderTestServer.with(Self.answer([])) { baseURL, server in
            let vectors = try await Self.embedder(baseURL).embed([])
            #expect(vectors.isEmpty)
            #expect(server.requests.isEmpty)
        }
    }

    @Test func statusesBecomeTypedErrorsWithoutTheKey() async throws {
        let cases: [(ReplayResponse, EmbedderError)] = [
            (.error(401, body: #"{"error":{"message":"Incorrect API key provided: \#(Self.apiKey)","type":"invalid_request_error"}}"#), .authentication),
            (.error(429, body: #"{"error":{"message":"Rate limit reached"}}"#), .rateLimited),
            (.error(500, body: "oops"), .server(status: 500)),
            (.error(404, body: #"{"error":"model \"nomic\" not found, try pulling it first; key \#(Self.apiKey)"}"#),
             .invalidRequest(#"model "nomic" not found, try pulling it first; key [redacted]"#)),
            (.error(400, body: ""), .invalidRequest("HTTP 400")),
        ]
        for (response, expected) in cases {
            try await ProviderTestServer.with(response) { baseURL, _ in
                do {
                    _ = try await Self.embedder(baseURL).embed(["x"])
                    Issue.record("expected \(expected)")
                } catch let error as EmbedderError {
                    #expect(error == expected)
                    #expect(!error.description.contains(Self.apiKey))
                }
            }
        }
    }

    @Test func answersThatDoNotFitTheRequestAreRefused() async throws {
        let cases: [(ReplayResponse, String)] = [
            (Self.answer([[1, 0]]), "2 dimensions, expected 3"),
            (Self.answer([[1, 0, 0], [0, 1, 0]]), "2 embeddings for 1 inputs"),
            (ReplayResponse(headers: ["content-type": "application/json"], steps: [.text("<html>gateway</html>")]), "expected {"),
            (ReplayResponse(headers: ["content-type": "application/json"], steps: [.text(#"{"data":[{"embedding":[1,0,0],"index":7}]}"#)]), "index 7"),
            (ReplayResponse(headers: ["content-type": "application/json"], steps: [.text(#"{"error":{"message":"input too long"}}"#)]), "input too long"),
        ]
        for (response, fragment) in cases {
            try await ProviderTestServer.with(response) { baseURL, _ in
                do {
                    _ = try await Self.embedder(baseURL).embed(["x"])
                    Issue.record("expected an error containing \(fragment)")
                } catch let error as EmbedderError {
                    #expect(error.description.contains(fragment), "\(error)")
                }
            }
        }
    }

    @Test func aStalledServerTimesOut() async throws {
        _ = try await ProviderTestServer.with(ReplayResponse(headers: ["content-type": "application/json"], steps: [.text(#"{"data":["#), .stall])) { baseURL, _ in
            await #expect(throws: EmbedderError.timeout) {
                try await Self.embedder(baseURL, timeout: .milliseconds(300)).embed(["x"])
            }
        }
    }

    @Test func anUnreachableServerFailsWithinTheTimeout() async throws {
        // Nothing listens on the port: async-http-client retries refused connections until the
        // deadline, so the call ends as a transport error or a timeout, never later.
        let port = try await freePort()
        let start = ContinuousClock.now
        do {
            _ = try await Self.embedder("http://127.0.0.1:\(port)", timeout: .seconds(2)).embed(["x"])
            Issue.record("expected an error")
        } catch let error as EmbedderError {
            switch error {
            case .transport, .timeout: break
            default: Issue.record("got \(error)")
            }
            #expect(!error.description.contains(Self.apiKey))
        }
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    // MARK: Settings

    static func settings(_ environment: [String: String]) throws(ConfigError) -> EmbeddingSettings {
        try EmbeddingSettings.load(ConfigReader(sources: ConfigSources(environment: environment)))
    }

    @Test func settingsChooseTheEmbedder() throws {
        #expect(try Self.settings([:]).source == .none)
        #expect(try makeEmbedder(Self.settings([:])) == nil)

        let dir = FileManager.default.temporaryDirectory.path
        #expect(try Self.settings(["PARLEY_EMBEDDING_MODEL_DIR": dir]).source == .builtin(directory: dir))

        let openAI = try Self.settings(["PARLEY_EMBEDDINGS_URL": "https://api.openai.com", "PARLEY_EMBEDDINGS_MODEL": "text-embedding-3-small",
                                        "PARLEY_EMBEDDINGS_API_KEY": Self.apiKey, "PARLEY_EMBEDDINGS_BATCH_SIZE": "16"])
        #expect(openAI.source == .openAI(.init(baseURL: "https://api.openai.com", model: "text-embedding-3-small", apiKey: Self.apiKey,
                                               dimensions: 1536, batchSize: 16, timeout: .seconds(60))))
        let embedder = try #require(try makeEmbedder(openAI))
        #expect(embedder.identity == EmbedderIdentity(name: "openai:https://api.openai.com:text-embedding-3-small", dimensions: 1536))

        // Ollama: no key, a tag on the model name, the dimensions looked up.
        let ollama = try Self.settings(["PARLEY_EMBEDDINGS_URL": "http://127.0.0.1:11434", "PARLEY_EMBEDDINGS_MODEL": "nomic-embed-text:latest"])
        guard case .openAI(let configuration) = ollama.source else { Issue.record("not an OpenAI-compatible source"); return }
        #expect(configuration.dimensions == 768 && configuration.apiKey == nil)
        #expect(configuration.endpoint == "http://127.0.0.1:11434/v1/embeddings")

        let custom = try Self.settings(["PARLEY_EMBEDDINGS_URL": "http://10.0.0.5:8000/v1", "PARLEY_EMBEDDINGS_MODEL": "my-embedder",
                                        "PARLEY_EMBEDDINGS_DIMENSIONS": "512", "PARLEY_EMBEDDINGS_TIMEOUT_SECONDS": "5"])
        guard case .openAI(let c) = custom.source else { Issue.record("not an OpenAI-compatible source"); return }
        #expect(c.dimensions == 512 && c.timeout == .seconds(5) && c.endpoint == "http://10.0.0.5:8000/v1/embeddings")
    }

    @Test func invalidSettingsNameTheSettingToChange() {
        let dir = FileManager.default.temporaryDirectory.path
        let cases: [([String: String], String)] = [
            (["PARLEY_EMBEDDING_MODEL_DIR": dir, "PARLEY_EMBEDDINGS_URL": "http://127.0.0.1:11434", "PARLEY_EMBEDDINGS_MODEL": "all-minilm"],
             "PARLEY_EMBEDDINGS_URL"),
            (["PARLEY_EMBEDDING_MODEL_DIR": "/nonexistent/parley-model"], "PARLEY_EMBEDDING_MODEL_DIR"),
            (["PARLEY_EMBEDDINGS_URL": "ftp://example.com", "PARLEY_EMBEDDINGS_MODEL": "m"], "PARLEY_EMBEDDINGS_URL"),
            (["PARLEY_EMBEDDINGS_URL": "https://api.openai.com"], "PARLEY_EMBEDDINGS_MODEL"),
            (["PARLEY_EMBEDDINGS_MODEL": "text-embedding-3-small"], "PARLEY_EMBEDDINGS_URL"),
            (["PARLEY_EMBEDDINGS_API_KEY": Self.apiKey], "PARLEY_EMBEDDINGS_URL"),
            (["PARLEY_EMBEDDINGS_URL": "http://127.0.0.1:8000", "PARLEY_EMBEDDINGS_MODEL": "unknown-model"], "PARLEY_EMBEDDINGS_DIMENSIONS"),
            (["PARLEY_EMBEDDINGS_URL": "http://127.0.0.1:8000", "PARLEY_EMBEDDINGS_MODEL": "m", "PARLEY_EMBEDDINGS_DIMENSIONS": "0"], "PARLEY_EMBEDDINGS_DIMENSIONS"),
            (["PARLEY_EMBEDDINGS_URL": "http://127.0.0.1:8000", "PARLEY_EMBEDDINGS_MODEL": "all-minilm", "PARLEY_EMBEDDINGS_BATCH_SIZE": "many"], "PARLEY_EMBEDDINGS_BATCH_SIZE"),
        ]
        for (environment, setting) in cases {
            do {
                _ = try Self.settings(environment)
                Issue.record("accepted \(environment)")
            } catch {
                #expect(error.description.contains(setting), "\(error)")
                #expect(!error.description.contains(Self.apiKey))
            }
        }
    }
}
