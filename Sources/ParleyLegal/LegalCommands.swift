import ArgumentParser
import Foundation
import Logging
import ParleyCore
import ParleyPackKit
import ParleyPlatform
import ParleyStorage
import SQLKit

/// The pack's CLI commands: `parley seed legal` and `parley bench legal-search`.
enum LegalCommands {
    static let all: [PackCommand] = [
        PackCommand(.seed, "legal", summary: "Load a synthetic law firm (cases, documents, emails) into a tenant; running it again adds nothing.",
                    help: SeedLegal.help(as: "parley seed legal")) { try await SeedLegal.parsed($0.arguments).run($0) },
        PackCommand(.bench, "legal-search", summary: "Measure fuzzy case search (latency, precision@1, recall@5) on the configured database.",
                    help: BenchLegalSearch.help(as: "parley bench legal-search")) { try await BenchLegalSearch.parsed($0.arguments).run($0) },
    ]
}

extension ParsableArguments {
    /// Parses a pack command's arguments; a mistake is reported like any CLI usage error.
    /// The options' help, with the command's name as people type it.
    static func help(as command: String) -> String {
        helpMessage().split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("USAGE: ") ? "USAGE: \(command)" + $0.drop { $0 != " " }.dropFirst().drop { $0 != " " } : String($0) }
            .joined(separator: "\n")
    }

    static func parsed(_ arguments: [String]) throws -> Self {
        do { return try parse(arguments) } catch { throw ValidationError(message(for: error)) }
    }
}

/// `parley seed legal`: demo data.
struct SeedLegal: ParsableArguments {
    @Option(help: "How many demo cases.") var cases: Int = 300
    @Option(help: "The tenant's slug.") var tenant: String = "default"

    func validate() throws {
        guard (1...100_000).contains(cases) else { throw ValidationError("--cases must be from 1 to 100000") }
    }

    func run(_ ctx: PackCommandContext) async throws {
        let store = ctx.store, clock = ctx.clock
        guard let t = try await TenantService(store: store, clock: clock).list().first(where: { $0.slug == tenant }) else {
            throw ParleyError.notFound("no tenant '\(tenant)': start `parley serve` once (it creates 'default') or pass --tenant", code: "tenant_not_found")
        }
        let report = try await LegalDemo.seed(store: store, clock: clock, tenantID: t.id, count: cases)
        print("seeded \(report.inserted) demo case(s) into \(t.slug) (\(report.existing) already there)")
    }
}

/// `parley bench legal-search`: fuzzy client-name search latency and precision at several sizes.
struct BenchLegalSearch: ParsableArguments {
    @Option(help: "Case counts to load, comma-separated.") var sizes: String = "1000,10000,100000"
    @Option(help: "Labelled searches timed per size (at most 400: 40 per category and 40 names not in the set).") var queries: Int = 400

    func run(_ ctx: PackCommandContext) async throws {
        let config = ctx.config, store = ctx.store, clock = ctx.clock
        do {
            for size in sizes.split(separator: ",").compactMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
                let tenant = try await TenantService(store: store, clock: clock).create(name: "Bench \(UUID().uuidString.prefix(8))", slug: nil,
                                                                                       timeZone: "UTC", actor: "bench")
                let clients = SyntheticClients.clients(count: size, seed: 42)
                let loadStart = ContinuousClock.now
                try await LegalDemo.loadForBenchmark(store: store, clock: clock, tenantID: tenant.id, clients: clients)
                let loadSeconds = (ContinuousClock.now - loadStart).seconds
                let service = CaseService(store: store, clock: clock, environment: LegalEnvironment(keyring: .random(), publicBaseURL: "http://localhost"))
                let principal = Principal(tenantID: tenant.id, keyID: nil, role: .admin, actor: "bench")
                let labelled = Array(SyntheticClients.labelledQueries(for: clients, seed: 7, perCategory: 40, negatives: 40).prefix(max(1, queries)))
                var latencies: [Double] = []
                var positives = 0, top1 = 0, top5 = 0, negatives = 0, falseHits = 0
                for q in labelled {
                    let started = ContinuousClock.now
                    let found = try await service.search(principal, CaseSearch(clientName: q.query, threshold: NameMatcher.defaultThreshold, limit: 5, status: nil))
                    latencies.append((ContinuousClock.now - started).seconds * 1000)
                    let names = found.cases.map(\.legalCase.clientName)
                    if let expected = q.expected {
                        positives += 1
                        let norm = NameNormalizer.tokens(expected)
                        if let first = names.first, NameNormalizer.tokens(first) == norm { top1 += 1 }
                        if names.contains(where: { NameNormalizer.tokens($0) == norm }) { top5 += 1 }
                    } else {
                        negatives += 1
                        if !names.isEmpty { falseHits += 1 }
                    }
                }
                latencies.sort()
                func pct(_ p: Double) -> Double {
                    latencies.isEmpty ? 0 : (latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 100).rounded() / 100
                }
                func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : (Double(a) / Double(b) * 1000).rounded() / 1000 }
                let result: [String: Any] = [
                    "database": "\(config.databaseURL)".split(separator: ":").first.map(String.init) ?? "?", "cases": size,
                    "load_seconds": (loadSeconds * 10).rounded() / 10, "queries": latencies.count,
                    "latency_ms": ["p50": pct(0.5), "p99": pct(0.99)],
                    "precision_at_1": ratio(top1, positives), "recall_at_5": ratio(top5, positives),
                    "negatives_with_a_match": ratio(falseHits, negatives),
                ]
                print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
            }
        }
    }
}
