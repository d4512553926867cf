import Foundation
import ParleyComms
import ParleyCore
import ParleyEmbed
import ParleyPackKit
import ParleyStorage
import ParleySupport
import Synchronization
import Testing

/// Counts the texts it embeds, and can be told to fail: after `failAfterCalls` calls it throws
/// (a worker that dies midway), or it answers the wrong number of vectors (a broken embedder).
final class CountingEmbedder: Embedder {
    enum Failure: Sendable { case none, throwAfter(calls: Int), wrongCount }
    let inner: TestEmbedder
    let failure: Failure
    let calls = Mutex<Int>(0)
    let texts = Mutex<Int>(0)
    var identity: EmbedderIdentity { inner.identity }

    init(name: String = "test:hashed-words", failure: Failure = .none) {
        inner = TestEmbedder(name: name)
        self.failure = failure
    }

    struct Crash: Error {}

    func embed(_ batch: [String]) async throws -> [[Float]] {
        let call = calls.withLock { $0 += 1; return $0 }
        switch failure {
        case .none: break
        case .throwAfter(let n): if call > n { throw Crash() }
        case .wrongCount: return []
        }
        texts.withLock { $0 += batch.count }
        return try await inner.embed(batch)
    }
}

/// Ingestion answers once the document is stored and searchable by BM25; its vectors are made
/// on the job queue (`support.reembed`), and the document says where they are.
@Suite struct SupportIngestTests {
    static func worker(_ store: any Store, clock: TestClock, embedder: any Embedder) throws -> CommsWorker {
        let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), channel: OutboxChannel(), settings: WorkerSettings(), logger: SupportTestEnv.logger)
        let runtime = try SupportPack.make(embedder: embedder).bind(PackContext(
            store: store, clock: clock, keyring: .random(), config: try SupportTestEnv.config(), logger: SupportTestEnv.logger,
            publicBaseURL: "http://127.0.0.1", maxAttempts: 3, wake: {}))
        worker.install(runtime.jobHandlers)
        return worker
    }

    static func reembedJobs(_ store: any Store, clock: TestClock, tenantID: String) async throws -> [Job] {
        try await JobQueue(store: store, clock: clock).list(tenantID: tenantID, state: nil, before: nil, limit: 50)
            .filter { $0.type == KnowledgeService.reembedJob }
    }

    /// 40 sections of about 60 words: 40 chunks at 50 words a chunk (more than one batch of 32).
    static let longDocument = (1...40).map { i in
        "## Section \(i)\n\n" + (0..<12).map { j in "topic\(i) detail\(j) explains widget\(i) behaviour" }.joined(separator: ". ") + "."
    }.joined(separator: "\n\n")

    @Test(arguments: TestEnv.kinds)
    func ingestAnswersBeforeEmbeddingAndTheQueueEmbedsLater(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let embedder = CountingEmbedder()
            let kb = SupportTestEnv.service(store, clock: clock, embedder: embedder)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let ctx = ActionContext(principal: principal, requestID: nil)
            _ = try await kb.createCollection(ctx, name: "help", description: nil)
            var ids: [String] = []
            for d in SupportCorpus.documents {
                let result = try await kb.ingest(ctx, IngestRequest(collection: "help", title: d.title, filename: nil, markdown: d.text, format: "markdown", tags: []))
                #expect(result.outcome == .created && result.document.embedding == .pending)
                ids.append(result.document.id)
            }
            #expect(embedder.texts.withLock { $0 } == 0, "nothing is embedded on the request path")
            // Searchable at once: BM25 for every chunk, hybrid without vectors yet.
            let q = "how long is the password reset link valid"
            #expect(try await kb.search(principal, SearchRequest(query: q, k: 3, mode: .bm25)).results.first?.documentTitle == "Passwords")
            let early = try await kb.search(principal, SearchRequest(query: q, k: 3, mode: .hybrid))
            #expect(early.mode == .hybrid && early.results.first?.documentTitle == "Passwords" && early.results.first?.similarity == nil)
            // One job for all four documents.
            let queued = try await Self.reembedJobs(store, clock: clock, tenantID: seeded.tenant.id)
            #expect(queued.count == 1 && queued.first?.state == .queued)
            let listed = try await kb.documents(principal, collection: "help", before: nil, limit: 10).documents
            #expect(listed.count == 4 && listed.allSatisfy { $0.embedding == .pending })

            #expect(try await Self.worker(store, clock: clock, embedder: embedder).runDueJobs() == 1)
            #expect(try await Self.reembedJobs(store, clock: clock, tenantID: seeded.tenant.id).map(\.state) == [.succeeded])
            let chunkCount = try await kb.documents(principal, collection: nil, before: nil, limit: 10).documents.reduce(0) { $0 + $1.chunkCount }
            #expect(embedder.texts.withLock { $0 } == chunkCount, "each chunk embedded once")
            for id in ids {
                let detail = try await kb.document(principal, id: id)
                #expect(detail.document.embedding == .ready && detail.embeddedChunks == detail.chunks.count)
            }
            let late = try await kb.search(principal, SearchRequest(query: q, k: 3, mode: .hybrid))
            #expect(late.results.first?.documentTitle == "Passwords" && late.results.first?.similarity != nil)

            // The same content again: unchanged, and it says its vectors are ready.
            let d = SupportCorpus.documents[0]
            let again = try await kb.ingest(ctx, IngestRequest(collection: "help", title: d.title, filename: nil, markdown: d.text, format: "markdown", tags: []))
            #expect(again.outcome == .unchanged && again.document.embedding == .ready)
            // Without an embedder there is no state to wait for.
            let plain = SupportTestEnv.service(store, clock: clock)
            #expect(try await plain.document(principal, id: ids[0]).document.embedding == EmbeddingState.none)

            // The embedder changes (a restart with another model): the vectors of the old one do
            // not count, reading the documents queues one job, and the worker re-embeds every chunk.
            let next = CountingEmbedder(name: "test:v2")
            let changed = SupportTestEnv.service(store, clock: clock, embedder: next)
            #expect(try await changed.documents(principal, collection: "help", before: nil, limit: 10).documents.allSatisfy { $0.embedding == .pending })
            _ = try await changed.document(principal, id: ids[0])
            #expect(try await Self.reembedJobs(store, clock: clock, tenantID: seeded.tenant.id).map(\.state) == [.queued, .succeeded], "one new job")
            #expect(try await Self.worker(store, clock: clock, embedder: next).runDueJobs() == 1)
            #expect(next.texts.withLock { $0 } == chunkCount)
            #expect(try await changed.documents(principal, collection: "help", before: nil, limit: 10).documents.allSatisfy { $0.embedding == .ready })
            #expect(try await changed.search(principal, SearchRequest(query: q, k: 3, mode: .vector)).results.first?.documentTitle == "Passwords")
            #expect(try await Self.reembedJobs(store, clock: clock, tenantID: seeded.tenant.id).map(\.state) == [.succeeded, .succeeded])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aWorkerThatDiesMidwayLeavesItsWorkAndTheJobFinishesIt(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let settings = SupportSettings(chunkWords: 50, chunkOverlap: 0)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let ctx = ActionContext(principal: principal, requestID: nil)
            let healthy = CountingEmbedder()
            let kb = SupportTestEnv.service(store, clock: clock, embedder: healthy, settings: settings)
            _ = try await kb.createCollection(ctx, name: "manual", description: nil)
            let doc = try await kb.ingest(ctx, IngestRequest(collection: "manual", title: "Manual", filename: nil, markdown: Self.longDocument,
                                                             format: "markdown", tags: []))
            #expect(doc.document.chunkCount > 32)
            // A worker claims the job, embeds one batch of 32 and dies (its process is gone: the
            // job stays running under its lease).
            let queue = JobQueue(store: store, clock: clock)
            let claimed = try await queue.claim(worker: "worker-that-dies", limit: 5, lease: .seconds(30))
            #expect(claimed.map(\.type) == [KnowledgeService.reembedJob])
            let dying = SupportTestEnv.service(store, clock: clock, embedder: CountingEmbedder(failure: .throwAfter(calls: 1)), settings: settings)
            await #expect(throws: CountingEmbedder.Crash.self) { try await dying.reembed(tenantID: seeded.tenant.id) }
            let midway = try await kb.document(principal, id: doc.document.id)
            #expect(midway.embeddedChunks == 32 && midway.document.embedding == .pending)
            // Its lease expires; the next worker rescues the job and embeds only what is left.
            clock.advance(by: 31)
            #expect(try await Self.worker(store, clock: clock, embedder: healthy).runDueJobs() == 1)
            let job = try #require(try await Self.reembedJobs(store, clock: clock, tenantID: seeded.tenant.id).first)
            #expect(job.state == .succeeded && job.attempts == 2)
            #expect(healthy.texts.withLock { $0 } == doc.document.chunkCount - 32, "the dead worker's batch was kept")
            let done = try await kb.document(principal, id: doc.document.id)
            #expect(done.embeddedChunks == done.chunks.count && done.document.embedding == .ready)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anEmbedderThatCannotWorkMarksTheDocumentFailedAndBM25StillFindsIt(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let broken = CountingEmbedder(failure: .wrongCount)
            let kb = SupportTestEnv.service(store, clock: clock, embedder: broken)
            let principal = Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test")
            let ctx = ActionContext(principal: principal, requestID: nil)
            _ = try await kb.createCollection(ctx, name: "help", description: nil)
            let d = SupportCorpus.documents[2]
            let doc = try await kb.ingest(ctx, IngestRequest(collection: "help", title: d.title, filename: nil, markdown: d.text, format: "markdown", tags: []))
            #expect(try await Self.worker(store, clock: clock, embedder: broken).runDueJobs() == 1)
            #expect(try await Self.reembedJobs(store, clock: clock, tenantID: seeded.tenant.id).map(\.state) == [.dead])
            let detail = try await kb.document(principal, id: doc.document.id)
            #expect(detail.document.embedding == .failed && detail.document.embeddingError?.contains("vectors") == true)
            #expect(try await kb.search(principal, SearchRequest(query: "lamp offline router", k: 3, mode: .bm25)).results.first?.documentTitle == "Lamp offline")
            // A new upload queues a new job: pending again.
            let changed = d.text + "\n\nThe lamp also works with mesh networks."
            let replaced = try await kb.ingest(ctx, IngestRequest(collection: "help", title: d.title, filename: nil, markdown: changed, format: "markdown", tags: []))
            #expect(replaced.outcome == .replaced && replaced.document.embedding == .pending)
        }
    }
}
