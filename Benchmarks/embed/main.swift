import Foundation
import ParleyCore
import ParleyEmbed

// parley-bench-embed: the measurements behind docs/benchmarks.md's embedding section, run by
// scripts/bench-embed with a release build.
//
//   parley-bench-embed vectors --rows 100000 --dimensions 384 --queries 200 --out DIR
//     exact top-10 by nearestRows over random unit vectors; writes DIR/matrix.f32, DIR/queries.f32
//     and DIR/swift-top10.json for the numpy peer; checks recall against nearestRowsReference.
//   parley-bench-embed embed --model MODEL_DIR --chunks 48 --words 200 --out DIR
//     built-in embedder throughput on chunks of ~200 words; writes DIR/chunks.json and
//     DIR/swift-vectors.json for the cosine agreement with scripts/embed-reference.py.

func option(_ name: String, _ def: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count { return args[i + 1] }
    return def
}

func unit(_ d: Int, _ random: inout SplitMix64) -> [Float] {
    var v = (0..<d).map { _ in Float.random(in: -1...1, using: &random) }
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    for i in v.indices { v[i] /= n }
    return v
}

/// CPU time this process has used, in seconds (all threads): on a shared machine it says what the
/// work costs when wall-clock time also counts other processes.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func write(_ floats: [Float], to url: URL) throws {
    try floats.withUnsafeBytes { try Data($0).write(to: url) }
}

func emit(_ object: [String: Any]) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), let line = String(data: data, encoding: .utf8) {
        print(line)
    }
}

func benchVectors() throws {
    let rows = Int(option("rows", "100000")) ?? 100_000
    let d = Int(option("dimensions", "384")) ?? 384
    let queries = Int(option("queries", "200")) ?? 200
    let out = URL(fileURLWithPath: option("out", ".build-bench/embed"), isDirectory: true)
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    var random = SplitMix64(seed: 2026)
    var matrix = VectorMatrix(dimensions: d)
    matrix.reserveCapacity(rows: rows)
    for _ in 0..<rows { matrix.append(unit(d, &random)) }
    let qs = (0..<queries).map { _ in unit(d, &random) }
    try write(matrix.values, to: out.appendingPathComponent("matrix.f32"))
    try write(qs.flatMap { $0 }, to: out.appendingPathComponent("queries.f32"))

    for q in qs.prefix(5) { _ = nearestRows(to: q, in: matrix, k: 10) }  // warm-up
    var times: [Double] = []
    var results: [[Int]] = []
    let cpuStart = cpuSeconds()
    for q in qs {
        let start = ContinuousClock.now
        let top = nearestRows(to: q, in: matrix, k: 10)
        let elapsed = ContinuousClock.now - start
        times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
        results.append(top.map(\.row))
    }
    let cpuPerQuery = (cpuSeconds() - cpuStart) / Double(queries) * 1000
    // Recall against the scalar full-sort reference (on a sample: it is slow by design).
    var hits = 0, total = 0
    for (i, q) in qs.prefix(10).enumerated() {
        let exact = Set(nearestRowsReference(to: q, in: matrix, k: 10).map(\.row))
        hits += Set(results[i]).intersection(exact).count
        total += exact.count
    }
    try JSONSerialization.data(withJSONObject: results).write(to: out.appendingPathComponent("swift-top10.json"))
    let sorted = times.sorted()
    emit(["bench": "vector-top10", "impl": "parley nearestRows", "rows": rows, "dimensions": d, "queries": queries,
          "threads": ProcessInfo.processInfo.activeProcessorCount,
          "p50_ms": percentile(sorted, 0.5), "p99_ms": percentile(sorted, 0.99), "mean_ms": times.reduce(0, +) / Double(times.count),
          "cpu_ms_per_query": cpuPerQuery, "recall_vs_reference": Double(hits) / Double(max(total, 1))])
}

func benchEmbed() async throws {
    let model = option("model", ProcessInfo.processInfo.environment["PARLEY_EMBEDDING_MODEL_DIR"] ?? "")
    let chunks = Int(option("chunks", "48")) ?? 48
    let words = Int(option("words", "200")) ?? 200
    let out = URL(fileURLWithPath: option("out", ".build-bench/embed"), isDirectory: true)
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let loadStart = ContinuousClock.now
    let embedder = try BuiltinEmbedder(directory: model)
    let loadTime = ContinuousClock.now - loadStart
    // Support-article-like text: common words, numbers and punctuation, deterministic.
    let lexicon = """
        the customer account order refund shipping warranty policy support agent please contact our team within business days \
        password reset login email address invoice payment card subscription plan upgrade cancel renew service vehicle appointment \
        document upload required signed form tax return statement receipt delivery tracking number status update question answer \
        available hours monday friday weekend holiday premium standard basic feature include unlimited priority response time
        """.split(separator: " ").map(String.init)
    var random = SplitMix64(seed: 7)
    let texts = (0..<chunks).map { c in
        (0..<words).map { w in
            let word = lexicon[Int(random.next() % UInt64(lexicon.count))]
            return w % 17 == 16 ? "\(word) \(c * 31 + w)." : w % 11 == 10 ? word + "," : word
        }.joined(separator: " ")
    }
    let tokens = texts.map { embedder.encoder.tokenize($0).count }
    _ = try await embedder.embed(Array(texts.prefix(2)))  // warm-up
    var best = Double.infinity
    var vectors: [[Float]] = []
    let cpuStart = cpuSeconds()
    for _ in 0..<3 {
        let start = ContinuousClock.now
        vectors = try await embedder.embed(texts)
        let elapsed = ContinuousClock.now - start
        best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
    let cpuPerChunk = (cpuSeconds() - cpuStart) / Double(3 * chunks)
    var single: [Double] = []
    for text in texts.prefix(10) {
        let start = ContinuousClock.now
        _ = try await embedder.embed([text])
        let elapsed = ContinuousClock.now - start
        single.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }
    try JSONSerialization.data(withJSONObject: ["texts": texts]).write(to: out.appendingPathComponent("chunks.json"))
    try JSONSerialization.data(withJSONObject: vectors.map { $0.map(Double.init) }).write(to: out.appendingPathComponent("swift-vectors.json"))
    emit(["bench": "builtin-embedder", "chunks": chunks, "words_per_chunk": words,
          "mean_tokens": Double(tokens.reduce(0, +)) / Double(chunks), "seconds": best,
          "chunks_per_second": Double(chunks) / best, "cpu_seconds_per_chunk": cpuPerChunk, "single_chunk_p50_ms": percentile(single.sorted(), 0.5),
          "load_seconds": Double(loadTime.components.seconds) + Double(loadTime.components.attoseconds) / 1e18,
          "threads": ProcessInfo.processInfo.activeProcessorCount])
}

do {
    switch CommandLine.arguments.dropFirst().first {
    case "vectors": try benchVectors()
    case "embed": try await benchEmbed()
    default:
        FileHandle.standardError.write(Data("usage: parley-bench-embed vectors|embed [options] (see scripts/bench-embed)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("parley-bench-embed: \(error)\n".utf8))
    exit(1)
}
