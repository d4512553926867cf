import Foundation

// The numeric kernels of the built-in encoder: a packed, blocked matrix multiply, layer norm,
// GELU and softmax, on contiguous Float buffers with SIMD8 arithmetic (8 floats: one AVX register,
// two SSE ones). Callers own the buffers; nothing here allocates per element.

typealias Vec8 = SIMD8<Float>

/// Runs `body(0) … body(count - 1)` on up to `count` threads and returns when all are done. The
/// iterations must touch disjoint memory (each kernel splits its output by rows or columns).
func concurrently(_ count: Int, _ body: (Int) -> Void) {
    guard count > 1 else {
        if count == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let shared = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
    }
}

/// Hands a value that is not `Sendable` to the threads of `concurrently`, which synchronises them.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> Vec8 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec8.self)
}

@inline(__always) func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}

/// A fully connected layer `y = x·Wᵀ + b` with `W` (outputs × inputs, PyTorch's layout) repacked
/// into panels of 8 output columns, each panel `inputs × 8` contiguous, so the inner loop reads
/// its weights sequentially and a panel stays in L1 while every row of `x` passes through it.
struct PackedLinear: Sendable {
    let inputs: Int
    let outputs: Int
    let panels: Int
    let packed: [Float]
    let bias: [Float]

    /// `weight` is `outputs × inputs` row-major; `bias` has `outputs` values.
    init(weight: [Float], bias: [Float], inputs: Int, outputs: Int) {
        precondition(weight.count == inputs * outputs && bias.count == outputs)
        let panels = (outputs + 7) / 8
        var packed = [Float](repeating: 0, count: panels * inputs * 8)
        for o in 0..<outputs {
            let panel = o / 8, column = o % 8
            for i in 0..<inputs { packed[panel * inputs * 8 + i * 8 + column] = weight[o * inputs + i] }
        }
        self.inputs = inputs
        self.outputs = outputs
        self.panels = panels
        self.packed = packed
        self.bias = bias + [Float](repeating: 0, count: panels * 8 - outputs)
    }

    /// Several layers reading the same input as one (query, key and value): outputs side by side.
    static func concatenated(_ parts: [(weight: [Float], bias: [Float])], inputs: Int) -> PackedLinear {
        PackedLinear(weight: parts.flatMap(\.weight), bias: parts.flatMap(\.bias), inputs: inputs,
                     outputs: parts.reduce(0) { $0 + $1.bias.count })
    }

    /// `y[rows × outputs] = x[rows × inputs]·Wᵀ + b`, output panels split over `threads`.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, threads: Int) {
        let threads = max(1, min(threads, panels, rows * inputs * outputs >= 1 << 18 ? threads : 1))
        if threads == 1 {
            applyPanels(0..<panels, x, rows: rows, into: y)
            return
        }
        // Disjoint columns of y per thread.
        concurrently(threads) { t in
            let start = panels * t / threads, end = panels * (t + 1) / threads
            applyPanels(start..<end, x, rows: rows, into: y)
        }
    }

    private func applyPanels(_ range: Range<Int>, _ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let k = inputs, n = outputs
        packed.withUnsafeBufferPointer { packedBuffer in
            bias.withUnsafeBufferPointer { biasBuffer in
                guard let packed = packedBuffer.baseAddress, let bias = biasBuffer.baseAddress else { return }
                for panel in range {
                    let w = packed + panel * k * 8
                    let b = load8(bias + panel * 8)
                    let column = panel * 8
                    let width = min(8, n - column)
                    var row = 0
                    while row + 4 <= rows {
                        let x0 = x + row * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
                        var a0 = b, a1 = b, a2 = b, a3 = b
                        for i in 0..<k {
                            let wv = load8(w + i * 8)
                            #if PARLEY_FMA
                            a0.addProduct(wv, Vec8(repeating: x0[i]))
                            a1.addProduct(wv, Vec8(repeating: x1[i]))
                            a2.addProduct(wv, Vec8(repeating: x2[i]))
                            a3.addProduct(wv, Vec8(repeating: x3[i]))
                            #else
                            a0 += wv * x0[i]
                            a1 += wv * x1[i]
                            a2 += wv * x2[i]
                            a3 += wv * x3[i]
                            #endif
                        }
                        storeRow(a0, y + row * n + column, width)
                        storeRow(a1, y + (row + 1) * n + column, width)
                        storeRow(a2, y + (row + 2) * n + column, width)
                        storeRow(a3, y + (row + 3) * n + column, width)
                        row += 4
                    }
                    while row < rows {
                        let x0 = x + row * k
                        var a0 = b
                        for i in 0..<k { a0 += load8(w + i * 8) * x0[i] }
                        storeRow(a0, y + row * n + column, width)
                        row += 1
                    }
                }
            }
        }
    }

    @inline(__always) private func storeRow(_ v: Vec8, _ p: UnsafeMutablePointer<Float>, _ width: Int) {
        if width == 8 {
            store8(v, p)
        } else {
            for c in 0..<width { p[c] = v[c] }
        }
    }
}

/// `x = layerNorm(x + residual)` for each row of `width` values (residual optional).
func layerNorm(_ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, rows: Int, width: Int,
               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float) {
    let vectorEnd = width & ~7
    for r in 0..<rows {
        let row = x + r * width
        if let residual {
            let res = residual + r * width
            var j = 0
            while j < vectorEnd { store8(load8(row + j) + load8(res + j), row + j); j += 8 }
            while j < width { row[j] += res[j]; j += 1 }
        }
        var sum = Vec8(), tail: Float = 0
        var j = 0
        while j < vectorEnd { sum += load8(row + j); j += 8 }
        while j < width { tail += row[j]; j += 1 }
        let mean = (sum.sum() + tail) / Float(width)
        var squares = Vec8(), tailSquares: Float = 0
        j = 0
        while j < vectorEnd { let d = load8(row + j) - mean; squares += d * d; j += 8 }
        while j < width { let d = row[j] - mean; tailSquares += d * d; j += 1 }
        let variance = (squares.sum() + tailSquares) / Float(width)
        let scale = 1 / (variance + epsilon).squareRoot()
        j = 0
        while j < vectorEnd {
            store8((load8(row + j) - mean) * scale * load8(gamma + j) + load8(beta + j), row + j)
            j += 8
        }
        while j < width { row[j] = (row[j] - mean) * scale * gamma[j] + beta[j]; j += 1 }
    }
}

/// `e^x` for 8 lanes: range reduction by ln 2 and a degree-6 polynomial (relative error ~2e-7).
/// Rounding and the float-to-integer step use the 1.5·2²³ trick: adding it leaves the rounded
/// value in the low mantissa bits, which stays in vector registers without SSE4.1.
@inline(__always) func exp8(_ x: Vec8) -> Vec8 {
    let x = x.clamped(lowerBound: Vec8(repeating: -87.3), upperBound: Vec8(repeating: 88.3))
    let magic: Float = 12_582_912  // 1.5 · 2^23
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = Vec8(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let exponent = (integer &+ 127) &<< 23
    return p * unsafeBitCast(exponent, to: Vec8.self)
}

/// GELU with the exact erf form, `x·½(1 + erf(x/√2))`; erf by Abramowitz–Stegun 7.1.26
/// (absolute error below 1.5e-7).
func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let vectorEnd = count & ~7
    var j = 0
    while j < vectorEnd {
        let v = load8(x + j)
        let z = v * 0.707_106_78
        let az = z.replacing(with: -z, where: z .< 0)
        let t = 1 / (1 + 0.327_591_1 * az)
        var poly = Vec8(repeating: 1.061_405_429)
        poly = poly * t - 1.453_152_027
        poly = poly * t + 1.421_413_741
        poly = poly * t - 0.284_496_736
        poly = poly * t + 0.254_829_592
        poly = poly * t
        let e = 1 - poly * exp8(-(az * az))
        let erf = e.replacing(with: -e, where: z .< 0)
        store8(v * 0.5 * (1 + erf), x + j)
        j += 8
    }
    while j < count {
        let v = x[j]
        x[j] = v * 0.5 * (1 + Float(Foundation.erf(Double(v) * 0.707_106_781_186_547_6)))
        j += 1
    }
}

/// In-place softmax of `count` scores.
func softmax(_ s: UnsafeMutablePointer<Float>, count: Int) {
    guard count > 0 else { return }
    var maximum = -Float.infinity
    for j in 0..<count where s[j] > maximum { maximum = s[j] }
    let vectorEnd = count & ~7
    var sum = Vec8(), tail: Float = 0
    var j = 0
    while j < vectorEnd {
        let e = exp8(load8(s + j) - maximum)
        store8(e, s + j)
        sum += e
        j += 8
    }
    while j < count { let e = Float(Foundation.exp(Double(s[j] - maximum))); s[j] = e; tail += e; j += 1 }
    let scale = 1 / (sum.sum() + tail)
    j = 0
    while j < vectorEnd { store8(load8(s + j) * scale, s + j); j += 8 }
    while j < count { s[j] *= scale; j += 1 }
}

/// Dot product of `count` floats (8 lanes, then the tail).
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    let vectorEnd = count & ~7
    var acc = Vec8(), tail: Float = 0
    var j = 0
    while j < vectorEnd { acc += load8(a + j) * load8(b + j); j += 8 }
    while j < count { tail += a[j] * b[j]; j += 1 }
    return acc.sum() + tail
}

/// `y += alpha · x` over `count` floats.
@inline(__always) func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    let vectorEnd = count & ~7
    var j = 0
    while j < vectorEnd { store8(load8(y + j) + alpha * load8(x + j), y + j); j += 8 }
    while j < count { y[j] += alpha * x[j]; j += 1 }
}
