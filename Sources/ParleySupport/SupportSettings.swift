import Foundation
import ParleyCore
import ParleyPackKit

/// The knowledge base's settings (docs/configuration.md).
public struct SupportSettings: Sendable, Equatable {
    /// Words per chunk, and words shared by consecutive chunks of a section.
    public var chunkWords: Int
    public var chunkOverlap: Int
    /// A result is kept when its BM25 score reaches `minBM25` or its cosine similarity reaches
    /// `minSimilarity` (a tenant may set its own, `PUT /v1/rag/settings`).
    public var minBM25: Double
    public var minSimilarity: Double
    /// Memory for the tenants' in-memory BM25 indexes, in MiB (least recently used tenants are
    /// dropped past it; 0: always rank on the database).
    public var bm25CacheMB: Int

    public init(chunkWords: Int = 500, chunkOverlap: Int = 50, minBM25: Double = 1.0, minSimilarity: Double = 0.35, bm25CacheMB: Int = 512) {
        self.chunkWords = chunkWords
        self.chunkOverlap = chunkOverlap
        self.minBM25 = minBM25
        self.minSimilarity = minSimilarity
        self.bm25CacheMB = bm25CacheMB
    }

    public static func load(_ config: ParleyConfig) throws(ConfigError) -> SupportSettings {
        let reader = ConfigReader(sources: config.sources)
        let words = try reader.int("PARLEY_SUPPORT_CHUNK_WORDS", default: 500, range: 50...4000)
        let overlap = try reader.int("PARLEY_SUPPORT_CHUNK_OVERLAP", default: 50, range: 0...2000)
        if overlap * 2 > words {
            throw .invalid(setting: "PARLEY_SUPPORT_CHUNK_OVERLAP", value: String(overlap),
                           accepts: "at most half of PARLEY_SUPPORT_CHUNK_WORDS (\(words))")
        }
        func number(_ key: String, _ def: Double, _ range: ClosedRange<Double>) throws(ConfigError) -> Double {
            let text = try reader.string(key, default: String(def), accepts: "a number from \(range.lowerBound) to \(range.upperBound)") {
                Double($0.trimmingCharacters(in: .whitespaces)).map(range.contains) ?? false
            }
            return Double(text.trimmingCharacters(in: .whitespaces)) ?? def
        }
        return SupportSettings(chunkWords: words, chunkOverlap: overlap,
                               minBM25: try number("PARLEY_SUPPORT_MIN_BM25", 1.0, 0...1000),
                               minSimilarity: try number("PARLEY_SUPPORT_MIN_SIMILARITY", 0.35, -1...1),
                               bm25CacheMB: try reader.int("PARLEY_SUPPORT_BM25_CACHE_MB", default: 512, range: 0...1_048_576))
    }

    static let documentation: [PackSetting] = [
        PackSetting("PARLEY_SUPPORT_CHUNK_WORDS", default: "500", "Words per knowledge-base chunk (50-4000)"),
        PackSetting("PARLEY_SUPPORT_CHUNK_OVERLAP", default: "50", "Words consecutive chunks of a section share (at most half a chunk)"),
        PackSetting("PARLEY_SUPPORT_MIN_BM25", default: "1.0", "A search result is kept when its BM25 score reaches this..."),
        PackSetting("PARLEY_SUPPORT_MIN_SIMILARITY", default: "0.35", "...or its cosine similarity reaches this (tenants may set their own)"),
        PackSetting("PARLEY_SUPPORT_BM25_CACHE_MB", default: "512", "MiB for in-memory BM25 indexes, least recently used tenants dropped past it (0: rank on the database)"),
    ]
}
