import ArgumentParser
import Foundation
import Logging
import ParleyComms
import ParleyCore
import ParleyPlatform
import ParleyApp
import ParleyStorage
import SQLKit

/// `parley bench-queue`: the communications queue's throughput and enqueue-to-send latency with
/// the outbox channel, in-process, on the configured database (use a fresh one).
struct BenchQueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-queue",
                                                    abstract: "Measure the message queue with the outbox channel (use an empty database).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Messages to send.") var jobs: Int = 2000
    @Option(help: "Jobs a worker runs at once (MAX_CONCURRENT_JOBS).") var concurrency: Int = 4

    func run() async throws {
        let config = try common.load()
        var logger = Logger(label: "parley.bench")
        logger.logLevel = .error
        let store = await openStore(config, logger: logger)
        let clock = SystemClock()
        do {
            // A zone where it is early afternoon now, so quiet hours do not defer the messages.
            let hour = Calendar(identifier: .gregorian).dateComponents(in: .gmt, from: clock.now()).hour ?? 12
            let offset = 14 - hour
            let zone = offset == 0 ? "UTC" : offset > 0 ? "Etc/GMT-\(offset)" : "Etc/GMT+\(-offset)"
            let tenant = try await TenantService(store: store, clock: clock).create(name: "Bench \(UUID().uuidString.prefix(8))", slug: nil,
                                                                                   timeZone: zone, actor: "bench")
            let ctx = ActionContext(principal: Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "bench"), requestID: nil)
            let queue = JobQueue(store: store, clock: clock)
            let messages = MessageService(queue: queue)
            let enqueueStart = ContinuousClock.now
            for i in 0..<jobs {
                _ = try await messages.send(ctx, MessageRequest(channel: .sms, to: "+1415555\(String(format: "%04d", i % 10_000))", text: "Bench \(i)",
                                                                idempotencyKey: "bench-\(i)"))
            }
            let enqueueSeconds = (ContinuousClock.now - enqueueStart).seconds
            var settings = WorkerSettings()
            settings.maxConcurrentJobs = max(1, concurrency)
            let worker = CommsWorker(queue: queue, channel: OutboxChannel(), settings: settings, logger: logger)
            let started = ContinuousClock.now
            let workerStart = clock.now()
            while try await worker.runDueJobs() > 0 {}
            let seconds = (ContinuousClock.now - started).seconds
            let tenantID = tenant.id
            let latencies = try await store.read { db in
                try await db.raw("SELECT created_at, sent_at FROM messages WHERE tenant_id = \(bind: tenantID) AND status = 'sent'").all().map { row in
                    // From when the message was both enqueued and the worker was running.
                    (try row.decode(column: "sent_at", as: Date.self).timeIntervalSince(max(try row.decode(column: "created_at", as: Date.self), workerStart))) * 1000
                }
            }.sorted()
            func pct(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            // All messages are enqueued first, then the worker drains them; a message's latency
            // counts from when it was queued or the worker started, whichever was later.
            let result: [String: Any] = [
                "database": "\(config.databaseURL)".split(separator: ":").first.map(String.init) ?? "?",
                "jobs": jobs, "sent": latencies.count, "concurrency": concurrency,
                "jobs_per_s": (Double(latencies.count) / max(seconds, 1e-9) * 10).rounded() / 10,
                "enqueue_per_s": (Double(jobs) / max(enqueueSeconds, 1e-9) * 10).rounded() / 10,
                "enqueue_to_send_ms": ["p50": (pct(0.5) * 10).rounded() / 10, "p99": (pct(0.99) * 10).rounded() / 10],
            ]
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } catch {
            await store.shutdown()
            fail("\(error)")
        }
        await store.shutdown()
    }
}
