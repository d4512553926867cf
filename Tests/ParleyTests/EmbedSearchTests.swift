import Foundation
import ParleyCore
@testable import ParleyEmbed
import Testing

/// Exact nearest-neighbour search: the SIMD, heap and multi-core version against the scalar one.
@Suite struct EmbedSearchTests {
    static func matrix(rows: Int, dimensions: Int, seed: UInt64, duplicates: Int = 0) -> VectorMatrix {
        var random = SplitMix64(seed: seed)
        var m = VectorMatrix(dimensions: dimensions)
        var kept: [[Float]] = []
        for row in 0..<rows {
            // Some rows repeat an earlier one exactly: equal scores, ranked by the lower row.
            if duplicates > 0, row % duplicates == duplicates - 1, let earlier = kept.randomElement(using: &random) {
                m.append(earlier)
                continue
            }
            let v = l2Normalized((0..<dimensions).map { _ in Float.random(in: -1...1, using: &random) })
            kept.append(v)
            m.append(v)
        }
        return m
    }

    static func query(_ dimensions: Int, seed: UInt64) -> [Float] {
        var random = SplitMix64(seed: seed)
        return l2Normalized((0..<dimensions).map { _ in Float.random(in: -1...1, using: &random) })
    }

    @Test(arguments: [1, 7, 16, 37, 384])
    func equalsTheReferenceForEveryDimension(dimensions: Int) {
        let m = Self.matrix(rows: 500, dimensions: dimensions, seed: UInt64(dimensions), duplicates: 5)
        for (i, k) in [1, 3, 10, 499, 500, 800].enumerated() {
            let q = Self.query(dimensions, seed: UInt64(100 + i))
            let fast = nearestRows(to: q, in: m, k: k)
            #expect(fast == nearestRowsReference(to: q, in: m, k: k))
            #expect(fast.count == min(k, m.count))
            #expect(zip(fast, fast.dropFirst()).allSatisfy { $0.score > $1.score || ($0.score == $1.score && $0.row < $1.row) })
        }
    }

    @Test func tiesRankByLowerRow() {
        // Every row the same vector: the order is by row number alone, in every part of the scan.
        let v = Self.query(384, seed: 1)
        let m = VectorMatrix(dimensions: 384, values: Array((0..<6000).map { _ in v }.joined()))
        let result = nearestRows(to: v, in: m, k: 10)
        #expect(result.map(\.row) == Array(0..<10))
        #expect(result == nearestRowsReference(to: v, in: m, k: 10))
    }

    @Test func largeMatrixSplitAcrossCoresEqualsTheReference() {
        // 6,000 × 384 is above the threshold at which the scan is split between threads.
        let m = Self.matrix(rows: 6000, dimensions: 384, seed: 42, duplicates: 7)
        for seed in 0..<5 {
            let q = Self.query(384, seed: UInt64(1000 + seed))
            #expect(nearestRows(to: q, in: m, k: 10) == nearestRowsReference(to: q, in: m, k: 10))
        }
        // A query equal to a row finds that row first with score ~1.
        let row = 1234
        let q = Array(m.values[row * 384..<(row + 1) * 384])
        let best = nearestRows(to: q, in: m, k: 1)
        #expect(best.first.map { abs($0.score - 1) < 1e-5 } == true)
    }

    @Test func allowedFilterAppliesBeforeRanking() {
        let m = Self.matrix(rows: 6000, dimensions: 384, seed: 9, duplicates: 3)
        let q = Self.query(384, seed: 77)
        let even: (Int) -> Bool = { $0 % 2 == 0 }
        let fast = nearestRows(to: q, in: m, k: 25, allowed: even)
        #expect(fast == nearestRowsReference(to: q, in: m, k: 25, allowed: even))
        #expect(fast.count == 25 && fast.allSatisfy { $0.row % 2 == 0 })
        // A filter that admits fewer rows than k returns just those.
        let few: (Int) -> Bool = { [3, 4000, 5999].contains($0) }
        #expect(Set(nearestRows(to: q, in: m, k: 10, allowed: few).map(\.row)) == [3, 4000, 5999])
        #expect(nearestRows(to: q, in: m, k: 10, allowed: { _ in false }).isEmpty)
    }

    @Test func degenerateInputsAnswerNothing() {
        let m = Self.matrix(rows: 10, dimensions: 8, seed: 3)
        #expect(nearestRows(to: Self.query(8, seed: 1), in: m, k: 0).isEmpty)
        #expect(nearestRows(to: Self.query(7, seed: 1), in: m, k: 5).isEmpty)
        #expect(nearestRows(to: Self.query(8, seed: 1), in: VectorMatrix(dimensions: 8), k: 5).isEmpty)
    }

    @Test func simdDotFollowsItsDefinedOrder() {
        for count in [0, 1, 15, 16, 17, 33, 384, 1000] {
            let a = Self.query(max(count, 1), seed: UInt64(count)), b = Self.query(max(count, 1), seed: UInt64(count + 1))
            let fast = a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in simdDot(pa.baseAddress!, pb.baseAddress!, count: count) }
            }
            #expect(fast == scalarDot(a, offset: 0, b, count: count))
            let exact = zip(a.prefix(count), b.prefix(count)).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(Double(fast) - exact) < 1e-5)
        }
    }
}
