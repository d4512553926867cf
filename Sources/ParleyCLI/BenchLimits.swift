import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

/// `parley bench-limits`: what the rate limiter costs a request, on the configured database (the
/// in-process limiter on SQLite, the shared table on PostgreSQL): one call takes a token from a
/// key bucket and a tenant bucket, as the API middleware does. A `SELECT 1` round trip is measured
/// alongside as the baseline.
struct BenchLimits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-limits",
                                                    abstract: "Measure the rate limiter's cost per request on the configured database.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Limiter calls per measurement.") var calls: Int = 20_000
    @Option(help: "Calls in flight at once for the throughput figure.") var concurrency: Int = 16
    @Option(help: "Distinct API keys (and 1 tenant per 10 keys).") var keys: Int = 100

    func run() async throws {
        let config = try common.load()
        var logger = Logger(label: "parley.bench")
        logger.logLevel = .error
        let store = await openStore(config, logger: logger)
        do {
            let limiter = RateLimiters.make(store: store, clock: SystemClock(), rules: RateLimitRules(settings: config.rateLimits, chat: config.customerChat))
            // Buckets far larger than the run, so every call is allowed and pays the whole path.
            let rule = TokenBucketRule(capacity: 1_000_000_000, refillPerSecond: 1_000_000)
            let n = max(1, calls), keyCount = max(1, keys)
            @Sendable func call(_ i: Int) async throws {
                let k = i % keyCount
                _ = try await limiter.take([RateLimitCheck(.key, key: "bench-key-\(k)", rule: rule),
                                            RateLimitCheck(.tenant, key: "bench-tenant-\(k / 10)", rule: rule)])
            }
            @Sendable func ping(_ i: Int) async throws {
                _ = try await store.read { db in try await db.raw("SELECT 1 AS one").first() }
            }
            for i in 0..<min(n, 500) { try await call(i) }  // warm the pool and the buckets
            let limited = try await Self.sequential(n, call)
            let baseline = try await Self.sequential(n, ping)
            let throughput = try await Self.concurrent(n, max(1, concurrency), call)
            func us(_ v: Double) -> Double { (v * 1e7).rounded() / 10 }
            let result: [String: Any] = [
                "database": store.kind.rawValue, "limiter": "\(type(of: limiter))", "calls": n, "keys": keyCount,
                "limiter_call_us": ["p50": us(limited.p50), "p99": us(limited.p99), "mean": us(limited.mean)],
                "select_1_us": ["p50": us(baseline.p50), "p99": us(baseline.p99), "mean": us(baseline.mean)],
                "limiter_calls_per_s": ["concurrency": concurrency, "rate": (throughput * 10).rounded() / 10],
            ]
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } catch {
            await store.shutdown()
            fail("\(error)")
        }
        await store.shutdown()
    }

    /// Seconds per call, one after another.
    static func sequential(_ n: Int, _ body: @Sendable (Int) async throws -> Void) async throws -> (p50: Double, p99: Double, mean: Double) {
        var times: [Double] = []
        times.reserveCapacity(n)
        for i in 0..<n {
            let start = ContinuousClock.now
            try await body(i)
            times.append((ContinuousClock.now - start) / .seconds(1))
        }
        times.sort()
        return (times[n / 2], times[min(n - 1, n * 99 / 100)], times.reduce(0, +) / Double(n))
    }

    /// Calls per second with `width` in flight.
    static func concurrent(_ n: Int, _ width: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<width {
                group.addTask { for i in stride(from: w, to: n, by: width) { try await body(i) } }
            }
            try await group.waitForAll()
        }
        return Double(n) / max((ContinuousClock.now - start) / .seconds(1), 1e-9)
    }
}
