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
import ParleyEmbed
import ParleyPackKit
import ParleyServer
import ParleyStorage
import ParleySupport
import Testing

/// A deterministic embedder for tests: words hashed into 64 buckets, L2-normalised (texts that
/// share words are close). A protocol-typed dependency, not a stub of a product path.
struct TestEmbedder: Embedder {
    let identity: EmbedderIdentity
    init(name: String = "test:hashed-words") { identity = EmbedderIdentity(name: name, dimensions: 256) }
    static let common: Set<String> = ["what", "where", "when", "which", "with", "your", "that", "this", "from", "have", "does", "they", "them", "there"]

    func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            var v = [Float](repeating: 0, count: 256)
            for word in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) where word.count > 3 && !Self.common.contains(String(word)) {
                var h: UInt32 = 2166136261
                for b in word.utf8 { h = (h ^ UInt32(b)) &* 16777619 }
                v[Int(h % 256)] += 1
            }
            let norm = (v.reduce(0) { $0 + $1 * $1 }).squareRoot()
            return norm > 0 ? v.map { $0 / norm } : v
        }
    }
}

enum SupportTestEnv {
    static func packs(embedder: (any Embedder)?) -> [DomainPack] {
        ParleySchema.packs.map { $0.name == "support" ? SupportPack.make(embedder: embedder) : $0 }
    }

    static func config(_ env: [String: String] = [:]) throws -> ParleyConfig {
        try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "2mb"].merging(env) { $1 }))
    }

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func service(_ store: any Store, clock: any Clock, embedder: (any Embedder)? = nil, settings: SupportSettings = SupportSettings()) -> KnowledgeService {
        KnowledgeService(store: store, clock: clock, settings: settings, embedder: embedder, logger: logger)
    }
}

/// The application with the support pack (and the given embedder), a seeded tenant and a client.
func withSupportServer(_ kind: DatabaseKind, embedder: (any Embedder)? = nil, env: [String: String] = [:],
                       _ body: @escaping @Sendable (any TestClientProtocol, Seeded, any Store, TestClock) async throws -> Void) async throws {
    let clock = TestClock()
    try await TestDatabases.withStore(kind, clock: clock) { store in
        let seeded = try await Seeded.make(store, clock: clock)
        let app = try buildApplication(ServerDependencies(config: try SupportTestEnv.config(env), store: store, clock: clock, logger: SupportTestEnv.logger,
                                                          migrations: ParleySchema.migrations, keyring: .random(),
                                                          packs: SupportTestEnv.packs(embedder: embedder)))
        try await app.test(.router) { client in try await body(client, seeded, store, clock) }
    }
}

extension TestClientProtocol {
    func createCollection(_ key: String, _ name: String) async throws {
        _ = try await postJSON(key, "/v1/rag/collections", ["name": .string(name)], status: .created)
    }

    func addDocument(_ key: String, collection: String, title: String, text: String, tags: [String] = [],
                     status: HTTPResponse.Status = .created) async throws -> JSONValue {
        try await postJSON(key, "/v1/rag/documents", ["collection": .string(collection), "title": .string(title), "text": .string(text),
                                                      "tags": .array(tags.map { .string($0) })], status: status)
    }

    func upload(_ key: String, _ uri: String, bytes: String, contentType: String, status: HTTPResponse.Status) async throws -> JSONValue {
        var headers = auth(key)
        headers[.contentType] = contentType
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: bytes)) { r in
            #expect(r.status == status, "POST \(uri): \(String(buffer: r.body))")
            return try JSONValue.parse(String(buffer: r.body))
        }
    }
}

/// A small help corpus: distinct wording per document, so rankings have no ties.
enum SupportCorpus {
    static let documents: [(title: String, text: String)] = [
        ("Passwords", """
            # Account help

            ## Resetting your password

            Choose Forgot password on the sign-in screen. We email a reset link that stays valid for 30 minutes.
            Pick a new password of at least 12 characters.

            ## Two-step verification

            Turn on two-step verification under Settings, Security. Authenticator apps and SMS codes both work.
            """),
        ("Refunds", """
            # Billing

            ## Refund policy

            Subscriptions are refunded in full within 30 days of the first payment. Yearly plans are refunded pro rata after that.
            Write to billing with the date of the charge; refunds reach the card within 10 business days.

            ## Plans

            | Plan | Monthly | Yearly |
            | --- | --- | --- |
            | Free | $0 | $0 |
            | Plus | $4.99 | $49 |
            | Studio | $12.99 | $129 |
            """),
        ("Lamp offline", """
            # Troubleshooting

            ## The lamp is offline

            The lamp joins only 2.4 GHz Wi-Fi networks. After a router change, pair the lamp again from the app.
            Firmware updates take the lamp offline for two minutes at night.

            ## Flickering light

            A flickering light usually means a weak power adapter. Use the original 30 W adapter; phone chargers are too weak.
            """),
        ("Café hours", """
            # Visiting our café

            The café in the showroom serves coffee from 8 to 18. Crème brûlée on Fridays. Pets are welcome on the terrace.
            """),
    ]

    static func load(_ kb: KnowledgeService, tenantID: String, collection: String = "help") async throws {
        let ctx = ActionContext(principal: Principal(tenantID: tenantID, keyID: nil, role: .admin, actor: "test"), requestID: nil)
        _ = try await kb.createCollection(ctx, name: collection, description: nil)
        for d in documents {
            _ = try await kb.ingest(ctx, IngestRequest(collection: collection, title: d.title, filename: nil, markdown: d.text, format: "markdown", tags: []))
        }
        // Ingestion leaves the vectors to the job queue: make them now, as that job would.
        if kb.embedder != nil { try await kb.reembed(tenantID: tenantID) }
    }

    static let queries = ["reset password link", "refund yearly plan", "lamp offline wifi router", "flickering adapter charger",
                          "cafe creme brulee", "two-step verification sms codes", "plus plan price monthly", "lamp"]
}
