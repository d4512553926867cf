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
}

public struct ScoredRow: Sendable, Equatable {
    public var row: Int
    public var score: Float
}

/// Exact nearest neighbours by dot product (cosine for normalised vectors), best first; ties by
/// lower row. `allowed` filters rows (metadata filters) before ranking.
public func nearestRows(to query: [Float], in matrix: VectorMatrix, k: Int, allowed: ((Int) -> Bool)? = nil) -> [ScoredRow] {
    guard k > 0, query.count == matrix.dimensions else { return [] }
    var scored: [ScoredRow] = []
    scored.reserveCapacity(matrix.count)
    let d = matrix.dimensions
    matrix.values.withUnsafeBufferPointer { v in
        for row in 0..<matrix.count where allowed?(row) ?? true {
            var s: Float = 0
            for j in 0..<d { s += v[row * d + j] * query[j] }
            scored.append(ScoredRow(row: row, score: s))
        }
    }
    scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.row < $1.row }
    return Array(scored.prefix(k))
}
