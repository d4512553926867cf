import Foundation
import ParleyCore
import ParleyStorage
@testable import ParleySupport
import Testing

/// `POST /v1/rag/query` with a language model configured (a local server speaking Chat
/// Completions): the model writes the answer from the passages; references to passages it was
/// not given are removed and reported; a failing model falls back to the extractive answer.
@Suite struct SupportAnswerTests {
    static func env(_ baseURL: String) -> [String: String] {
        ["OPENAI_BASE_URL": baseURL + "/v1", "OPENAI_API_KEY": "sk-test-0123456789", "PARLEY_MODEL_TIMEOUT_SECONDS": "30"]
    }

    static func stream(_ text: String) -> ReplayResponse {
        .pieces(ProviderOpenAITests.text(text) + ProviderOpenAITests.chunk("{}", finish: "stop") + ProviderOpenAITests.done, size: 40)
    }

    static let question = "How long is the password reset link valid?"

    @Test(arguments: TestEnv.kinds)
    func theModelWritesTheAnswerAndItsReferencesAreChecked(_ kind: DatabaseKind) async throws {
        let written = "The reset link stays valid for 30 minutes [1]. A new password needs at least 12 characters [1, 9]; see also [sic] [0]."
        try await ProviderTestServer.with(Self.stream(written)) { baseURL, server in
            try await withSupportServer(kind, env: Self.env(baseURL)) { client, seeded, _, _ in
                let key = seeded.adminKey
                try await client.createCollection(key, "help")
                for d in SupportCorpus.documents { _ = try await client.addDocument(key, collection: "help", title: d.title, text: d.text) }
                let answer = try await client.postJSON(key, "/v1/rag/query", ["query": .string(Self.question)])
                #expect(answer["answered_by"] == "model", "\(answer)")
                #expect(answer["answer"] == "The reset link stays valid for 30 minutes [1]. A new password needs at least 12 characters [1]; see also [sic].")
                #expect(answer["dropped_references"] == [9, 0])
                let citations = try #require(answer["citations"]?.arrayValue)
                #expect(citations.count == 1 && citations.first?["n"] == 1 && citations.first?["document_title"] == "Passwords")
                #expect(answer["fallback_reason"] == nil || answer["fallback_reason"] == .null)
                // The model was given the passages, numbered, and the question.
                let sent = try #require(try server.onlyRequest().json)
                let prompt = try #require(sent["messages"]?.arrayValue?.last?["content"]?.stringValue)
                #expect(prompt.contains("[1] Passwords — # Account help > ## Resetting your password") && prompt.contains("valid for 30 minutes"))
                #expect(prompt.hasSuffix("Question: \(Self.question)"))
                // Nothing relevant: no model call, the extractive "not found".
                let none = try await client.postJSON(key, "/v1/rag/query", ["query": "quantum chromodynamics lecture"])
                #expect(none["no_relevant_results"] == true && none["answered_by"] == "extractive")
                #expect(server.requests.count == 1)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aFailingModelFallsBackToTheExtractiveAnswerAndSaysWhy(_ kind: DatabaseKind) async throws {
        try await ProviderTestServer.with(.error(500, body: #"{"error":{"message":"boom"}}"#)) { baseURL, server in
            try await withSupportServer(kind, env: Self.env(baseURL)) { client, seeded, _, _ in
                let key = seeded.adminKey
                try await client.createCollection(key, "help")
                for d in SupportCorpus.documents { _ = try await client.addDocument(key, collection: "help", title: d.title, text: d.text) }
                let answer = try await client.postJSON(key, "/v1/rag/query", ["query": .string(Self.question)])
                #expect(answer["answered_by"] == "extractive")
                #expect(answer["fallback_reason"]?.stringValue?.contains("500") == true, "\(answer)")
                #expect(answer["answer"]?.stringValue?.contains("30 minutes") == true && answer["citations"]?[0]?["document_title"] == "Passwords")
                #expect(!server.requests.isEmpty)
            }
        }
    }

    /// The Messages wire format too; an answer cut off at the token limit is not given.
    @Test(arguments: TestEnv.kinds)
    func anAnthropicModelAnswersAndACutOffAnswerFallsBack(_ kind: DatabaseKind) async throws {
        typealias A = ProviderAnthropicTests
        let good = A.messageStart() + A.textBlock(0, ["Refunds are in full within ", "30 days [1]."]) + A.messageEnd("end_turn", output: 12)
        let cut = A.messageStart() + A.textBlock(0, ["Refunds are"]) + A.messageEnd("max_tokens", output: 1024)
        try await ProviderTestServer.with(script: [.stream(good), .stream(cut)]) { baseURL, server in
            let env = ["ANTHROPIC_API_KEY": A.apiKey, "ANTHROPIC_BASE_URL": baseURL]
            try await withSupportServer(kind, env: env) { client, seeded, _, _ in
                let key = seeded.adminKey
                try await client.createCollection(key, "help")
                for d in SupportCorpus.documents { _ = try await client.addDocument(key, collection: "help", title: d.title, text: d.text) }
                let question: JSONValue = ["query": "How do refunds of subscriptions work?"]
                let answer = try await client.postJSON(key, "/v1/rag/query", question)
                #expect(answer["answered_by"] == "model" && answer["answer"] == "Refunds are in full within 30 days [1].", "\(answer)")
                #expect(answer["citations"]?[0]?["document_title"] == "Refunds" && answer["dropped_references"] == [])
                #expect(try #require(server.requests.first).path == "/v1/messages")
                let fallback = try await client.postJSON(key, "/v1/rag/query", question)
                #expect(fallback["answered_by"] == "extractive" && fallback["fallback_reason"]?.stringValue?.contains("cut off") == true, "\(fallback)")
                #expect(fallback["citations"]?[0]?["document_title"] == "Refunds")
            }
        }
    }

    @Test func referencesAreSplitKeptOrDropped() {
        let cases: [(String, Int, String, [Int])] = [
            ("A [1] and B [2][3].", 3, "A [1] and B [2][3].", []),
            ("A [1,2] B [ 3 , 4 ]", 3, "A [1][2] B [3]", [4]),
            ("Nothing [7].", 2, "Nothing.", [7]),
            ("[link](http://x) and [note] and [12345678] [", 2, "[link](http://x) and [note] and [12345678] [", []),
            ("", 2, "", []),
        ]
        for (text, n, expected, dropped) in cases {
            let checked = ModelAnswers.checkReferences(text, passages: n)
            #expect(checked.text == expected && checked.dropped == dropped, "\(text)")
        }
    }
}
