import Foundation

/// Vectors of one dimension in one contiguous row-major buffer: row `i` is
/// `values[i * dimensions ..< (i + 1) * dimensions]`.
public struct VectorMatrix: Sendable {
    public let dimensions: Int
    public private(set) var values: [Float]

    public init(dimensions: Int, values: [Float] = []) {
        precondition(dimensions > 0 && values.count % dimensions == 0)
        self.dimensions = dimensions
        self.values = values
    }

    public var count: Int { values.count / dimensions }

    public mutating func append(_ vector: [Float]) {
        precondition(vector.count == dimensions)
        values.append(contentsOf: vector)
    }

    public mutating func reserveCapacity(rows: Int) {
        values.reserveCapacity(rows * dimensions)
    }
}

public struct ScoredRow: Sendable, Equatable {
    public var row: Int
    public var score: Float

    public init(row: Int, score: Float) {
        self.row = row
        self.score = score
    }

    /// Ranking order: higher score first, then lower row.
    @inline(__always) func ranksBefore(_ other: ScoredRow) -> Bool {
        score != other.score ? score > other.score : row < other.row
    }
}

/// Exact nearest neighbours by dot product (cosine for normalised vectors), best first; ties by
/// lower row. `allowed` filters rows (metadata filters) before ranking; it is called once per row,
/// on the calling thread.
///
/// Dot products run 16 floats at a time in SIMD; the best `k` are kept in a small heap instead of
/// sorting every score; a large matrix is split across the machine's cores (at most 4). The result
/// equals `nearestRowsReference` exactly, scores included.
public func nearestRows(to query: [Float], in matrix: VectorMatrix, k: Int, allowed: ((Int) -> Bool)? = nil) -> [ScoredRow] {
    guard k > 0, query.count == matrix.dimensions, matrix.count > 0 else { return [] }
    let rows = matrix.count, d = matrix.dimensions
    let mask: [Bool]? = allowed.map { allowed in (0..<rows).map { allowed($0) } }
    let threads = rows * d >= 1 << 20 ? max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4)) : 1
    var partial = [[ScoredRow]](repeating: [], count: threads)
    matrix.values.withUnsafeBufferPointer { valuesBuffer in
        query.withUnsafeBufferPointer { queryBuffer in
            guard let values = valuesBuffer.baseAddress, let q = queryBuffer.baseAddress else { return }
            let scan = { (range: Range<Int>) -> [ScoredRow] in
                var heap = TopK(k: k)
                for row in range where mask?[row] ?? true {
                    heap.offer(ScoredRow(row: row, score: simdDot(values + row * d, q, count: d)))
                }
                return heap.items
            }
            if threads == 1 {
                partial[0] = scan(0..<rows)
            } else {
                partial.withUnsafeMutableBufferPointer { out in
                    concurrently(threads) { t in
                        out[t] = scan((rows * t / threads)..<(rows * (t + 1) / threads))
                    }
                }
            }
        }
    }
    let merged = partial.flatMap { $0 }.sorted { $0.ranksBefore($1) }
    return Array(merged.prefix(k))
}

/// The plain implementation `nearestRows` must equal: every score in scalar code (summed in the
/// same lane order as the SIMD kernel, so scores are bit-identical), a full sort, the first `k`.
public func nearestRowsReference(to query: [Float], in matrix: VectorMatrix, k: Int, allowed: ((Int) -> Bool)? = nil) -> [ScoredRow] {
    guard k > 0, query.count == matrix.dimensions else { return [] }
    var scored: [ScoredRow] = []
    scored.reserveCapacity(matrix.count)
    let d = matrix.dimensions
    for row in 0..<matrix.count where allowed?(row) ?? true {
        scored.append(ScoredRow(row: row, score: scalarDot(matrix.values, offset: row * d, query, count: d)))
    }
    scored.sort { $0.ranksBefore($1) }
    return Array(scored.prefix(k))
}

/// The dot product's defined order: 16 lanes over the leading multiple of 16 (lane `l` sums
/// elements `l, l+16, …`), folded 16→8→4→2→1, then the remaining elements added in order.
@inline(__always) func simdDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    let vectorEnd = count & ~15
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var j = 0
    while j < vectorEnd {
        acc0 += load8(a + j) * load8(b + j)
        acc1 += load8(a + j + 8) * load8(b + j + 8)
        j += 16
    }
    let s8 = acc0 + acc1
    let s4 = s8.lowHalf + s8.highHalf
    let s2 = s4.lowHalf + s4.highHalf
    var tail: Float = 0
    while j < count { tail += a[j] * b[j]; j += 1 }
    return (s2[0] + s2[1]) + tail
}

func scalarDot(_ values: [Float], offset: Int, _ query: [Float], count: Int) -> Float {
    let vectorEnd = count & ~15
    var lanes = [Float](repeating: 0, count: 16)
    var j = 0
    while j < vectorEnd {
        for l in 0..<16 { lanes[l] += values[offset + j + l] * query[j + l] }
        j += 16
    }
    var s8 = [Float](repeating: 0, count: 8)
    for l in 0..<8 { s8[l] = lanes[l] + lanes[l + 8] }
    var s4 = [Float](repeating: 0, count: 4)
    for l in 0..<4 { s4[l] = s8[l] + s8[l + 4] }
    let s2 = [s4[0] + s4[2], s4[1] + s4[3]]
    var tail: Float = 0
    while j < count { tail += values[offset + j] * query[j]; j += 1 }
    return (s2[0] + s2[1]) + tail
}

/// The best `k` rows seen so far: a binary heap whose root is the worst of them.
struct TopK {
    let k: Int
    private(set) var items: [ScoredRow] = []

    init(k: Int) {
        self.k = k
        items.reserveCapacity(min(k, 1 << 16))
    }

    @inline(__always) mutating func offer(_ candidate: ScoredRow) {
        if items.count < k {
            items.append(candidate)
            siftUp(items.count - 1)
        } else if candidate.ranksBefore(items[0]) {
            items[0] = candidate
            siftDown(0)
        }
    }

    /// `a` is worse than `b` (ranks after it): the heap's order.
    @inline(__always) private func worse(_ a: Int, _ b: Int) -> Bool { items[b].ranksBefore(items[a]) }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard worse(child, parent) else { return }
            items.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1, right = left + 1
            var worst = parent
            if left < items.count, worse(left, worst) { worst = left }
            if right < items.count, worse(right, worst) { worst = right }
            if worst == parent { return }
            items.swapAt(parent, worst)
            parent = worst
        }
    }
}
