import Foundation

/// A `.safetensors` file: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw little-endian data. Tensors are read as `Float`
/// (from F32, F16 or BF16).
public struct SafeTensors: Sendable {
    public struct Tensor: Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        /// Byte range inside the data section.
        var begin: Int
        var end: Int
    }

    public let tensors: [String: Tensor]
    private let data: Data
    private let dataStart: Int

    public init(contentsOf url: URL) throws(EmbedderError) {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw .modelFiles("cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(data: data, name: url.lastPathComponent)
    }

    public init(data: Data, name: String = "model.safetensors") throws(EmbedderError) {
        func fail(_ why: String) -> EmbedderError { .modelFiles("\(name) is not a safetensors file (\(why))") }
        guard data.count >= 8 else { throw fail("shorter than its header") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard headerLength >= 2, headerLength <= 100_000_000, headerLength <= UInt64(data.count - 8) else {
            throw fail("header length \(headerLength) does not fit the file")
        }
        let headerStart = data.startIndex + 8
        let header = data[headerStart..<(headerStart + Int(headerLength))]
        guard let json = try? JSONSerialization.jsonObject(with: header), let object = json as? [String: Any] else {
            throw fail("its header is not a JSON object")
        }
        let dataStart = headerStart + Int(headerLength)
        let available = data.endIndex - dataStart
        var tensors: [String: Tensor] = [:]
        for (key, value) in object where key != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor \(key) lacks dtype, shape or data_offsets") }
            let begin = offsets[0], end = offsets[1]
            guard begin >= 0, begin <= end, end <= available else { throw fail("tensor \(key) lies outside the file") }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor \(key) has a negative dimension") }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (m, o) = acc.0.multipliedReportingOverflow(by: d)
                return (m, acc.1 || o)
            }
            if let size = Self.elementSize(dtype) {
                guard !overflow, count.multipliedReportingOverflow(by: size) == (end - begin, false) else {
                    throw fail("tensor \(key) has \(end - begin) bytes for shape \(shape) of \(dtype)")
                }
            }
            tensors[key] = Tensor(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        self.tensors = tensors
        self.data = data
        self.dataStart = dataStart
    }

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F32", "I32", "U32": 4
        case "F16", "BF16", "I16", "U16": 2
        case "F64", "I64", "U64": 8
        case "I8", "U8", "BOOL": 1
        default: nil
        }
    }

    /// The tensor `name` as floats in row-major order; `shape`, when given, must match.
    public func floats(_ name: String, shape expected: [Int]? = nil) throws(EmbedderError) -> [Float] {
        guard let tensor = tensors[name] else { throw .modelFiles("model.safetensors has no tensor \(name)") }
        if let expected, expected != tensor.shape {
            throw .modelFiles("tensor \(name) has shape \(tensor.shape), expected \(expected) (does config.json belong to these weights?)")
        }
        let count = tensor.shape.reduce(1, *)
        let start = dataStart + tensor.begin
        let bytes = data[start..<(dataStart + tensor.end)]
        var out = [Float](repeating: 0, count: count)
        switch tensor.dtype {
        case "F32":
            out.withUnsafeMutableBytes { dst in _ = bytes.copyBytes(to: dst) }
            #if _endian(big)
            for i in out.indices { out[i] = Float(bitPattern: out[i].bitPattern.byteSwapped) }
            #endif
        case "F16", "BF16":
            var raw = [UInt16](repeating: 0, count: count)
            raw.withUnsafeMutableBytes { dst in _ = bytes.copyBytes(to: dst) }
            let brain = tensor.dtype == "BF16"
            for i in 0..<count {
                let bits = UInt16(littleEndian: raw[i])
                out[i] = brain ? Float(bitPattern: UInt32(bits) << 16) : Self.half(bits)
            }
        default:
            throw .modelFiles("tensor \(name) is \(tensor.dtype); only F32, F16 and BF16 weights are supported")
        }
        return out
    }

    /// IEEE 754 binary16 to Float (subnormals, infinities and NaN included).
    static func half(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa * 2^-24.
            let value = Float(mantissa) * 0x1p-24
            return sign == 0 ? value : -value
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}
