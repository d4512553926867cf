import Foundation
import ParleyCore
import ParleyEmbed
import ParleyStorage
@testable import ParleySupport
import Testing

/// The labelled retrieval set over the demo knowledge base (Tests/Fixtures/retrieval/support-demo.json).
struct RetrievalSet: Decodable {
    struct Answer: Decodable {
        /// The document's file in docs/examples/support-kb/.
        var doc: String
        /// Text in the last heading of the passage's heading path.
        var heading: String
    }

    struct Question: Decodable {
        var q: String
        var kind: String
        var answers: [Answer]
    }

    var questions: [Question]

    static func load() throws -> RetrievalSet {
        let url = TestEnv.packageRoot.appendingPathComponent("Tests/Fixtures/retrieval/support-demo.json")
        return try JSONDecoder().decode(RetrievalSet.self, from: Data(contentsOf: url))
    }

    /// Whether a result answers the question: its document is a labelled one and its section's
    /// own heading (the heading path's last part) contains the labelled heading.
    static func answers(_ question: Question, filename: String?, headingPath: String) -> Bool {
        let section = headingPath.components(separatedBy: " > ").last ?? headingPath
        return question.answers.contains { $0.doc == filename && section.localizedCaseInsensitiveContains($0.heading) }
    }
}

@Suite struct SupportDemoTests {
    static let formats = ["md", "html", "pdf", "docx", "xlsx"]

    /// The binary's copy of the help set is byte for byte docs/examples/support-kb/.
    @Test func theEmbeddedHelpSetIsTheExampleDocuments() throws {
        let dir = TestEnv.packageRoot.appendingPathComponent("docs/examples/support-kb")
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { Self.formats.contains(($0 as NSString).pathExtension) }.sorted()
        let files = SupportDemo.files
        #expect(files.count == SupportDemoFiles.files.count, "every embedded file decodes")
        #expect(files.map(\.filename).sorted() == onDisk, "run scripts/sync-support-demo")
        #expect(Set(files.map { ($0.filename as NSString).pathExtension }) == Set(Self.formats), "one document in each format")
        for file in files {
            #expect(Data(file.bytes) == (try Data(contentsOf: dir.appendingPathComponent(file.filename))),
                    "docs/examples/support-kb/\(file.filename) changed: run scripts/sync-support-demo")
            #expect(SupportDemo.tags[file.filename]?.isEmpty == false, "\(file.filename) has tags")
        }
    }

    /// Recall@5 of BM25, vectors (the built-in all-MiniLM-L6-v2) and hybrid on the labelled set:
    /// hybrid is not worse than the better of the two. Prints the figures (scripts/bench-retrieval).
    @Test(.enabled(if: EmbedModelFiles.required, "PARLEY_EMBEDDING_MODEL_DIR is unset (scripts/fetch-embedding-model)"),
          arguments: TestEnv.kinds)
    func hybridRecallOnTheDemoSetIsAtLeastTheBetterOfBM25AndVectors(_ kind: DatabaseKind) async throws {
        let set = try RetrievalSet.load()
        #expect(set.questions.count >= 40)
        guard let directory = EmbedModelFiles.directory else {
            throw TestFailure("PARLEY_EMBEDDING_MODEL_DIR is unset, and CI must run the built-in embedder tests")
        }
        let embedder = try BuiltinEmbedder(directory: directory)
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock, slug: "default")
            let kb = SupportTestEnv.service(store, clock: clock, embedder: embedder)
            let report = try await SupportDemo.seed(kb, tenantID: seeded.tenant.id)
            #expect(report.skipped.isEmpty && report.added == SupportDemo.files.count, "\(report.skipped)")
            try await kb.reembed(tenantID: seeded.tenant.id)  // the support.reembed job's work
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let documents = try await kb.documents(principal, collection: SupportDemo.collection, before: nil, limit: 50).documents
            let filenames = Dictionary(uniqueKeysWithValues: documents.map { ($0.id, $0.sourceFilename) })
            let stats = try await kb.document(principal, id: try #require(documents.first).id)
            #expect(stats.embeddedChunks == stats.chunks.count, "the demo is embedded by the background job")

            var recall: [SearchMode: Double] = [:]
            var byKind: [String: [String: Double]] = [:]
            var missed: [SearchMode: [String]] = [:]
            let kinds = Dictionary(grouping: set.questions, by: \.kind).mapValues(\.count)
            for mode in [SearchMode.bm25, .vector, .hybrid] {
                var found = 0
                var foundByKind: [String: Int] = [:]
                for question in set.questions {
                    let results = try await kb.search(principal, SearchRequest(query: question.q, collection: SupportDemo.collection, k: 5, mode: mode)).results
                    #expect(results.count <= 5)
                    if results.contains(where: { RetrievalSet.answers(question, filename: filenames[$0.documentId] ?? nil, headingPath: $0.headingPath) }) {
                        found += 1
                        foundByKind[question.kind, default: 0] += 1
                    } else {
                        missed[mode, default: []].append(question.q)
                    }
                }
                recall[mode] = Double(found) / Double(set.questions.count)
                for (k, n) in kinds { byKind[k, default: [:]][mode.rawValue] = Double(foundByKind[k] ?? 0) / Double(n) }
            }
            let bm25 = recall[.bm25] ?? 0, vector = recall[.vector] ?? 0, hybrid = recall[.hybrid] ?? 0
            let kindFigures = byKind.keys.sorted().map { k in
                "\"\(k)\": {\"questions\": \(kinds[k] ?? 0), " + ["bm25", "vector", "hybrid"].map { "\"\($0)\": \(Self.figure(byKind[k]?[$0] ?? 0))" }.joined(separator: ", ") + "}"
            }.joined(separator: ", ")
            print("""
                {"bench": "retrieval-quality", "database": "\(kind)", "questions": \(set.questions.count), "k": 5, \
                "recall_at_5": {"bm25": \(Self.figure(bm25)), "vector": \(Self.figure(vector)), "hybrid": \(Self.figure(hybrid))}, \
                "by_kind": {\(kindFigures)}}
                """)
            for mode in [SearchMode.bm25, .vector, .hybrid] {
                for q in missed[mode] ?? [] { print("retrieval-quality missed (\(kind), \(mode.rawValue)): \(q)") }
            }
            #expect(bm25 > 0.5 && vector > 0.5, "both rankings find most answers")
            #expect(hybrid >= max(bm25, vector), "hybrid \(hybrid) is worse than the better of bm25 \(bm25) and vector \(vector)")
        }
    }

    static func figure(_ x: Double) -> String { String(format: "%.3f", x) }
}
