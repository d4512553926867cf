import Foundation
import Logging
import ParleyCore
import ParleyStorage

#if canImport(Glibc)
import Glibc
#endif

/// One line per event on standard error, as text or JSON (`LOG_FORMAT`). Metadata (request_id,
/// tenant_id, ...) travels with the logger, so every line of a request carries its id.
public struct ParleyLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let format: LogFormat

    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public init(label: String, level: Logger.Level, format: LogFormat) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = Self.timestamp.format(Date())
        let line: String
        switch format {
        case .json:
            var object: [String: Any] = ["ts": time, "level": event.level.rawValue, "logger": label, "msg": event.message.description]
            for (k, v) in merged { object[k] = Self.plain(v) }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        case .text:
            let meta = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = "\(time) \(event.level.rawValue) \(label): \(event.message)" + (meta.isEmpty ? "" : " " + meta)
        }
        Self.writeLine(line)
    }

    static func plain(_ v: Logger.Metadata.Value) -> Any {
        switch v {
        case .string(let s): return s
        case .stringConvertible(let s): return s.description
        case .array(let a): return a.map(plain)
        case .dictionary(let d): return d.mapValues(plain)
        }
    }

    /// A single write(2) per line keeps lines from different threads whole.
    static func writeLine(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        #if canImport(Glibc)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
        #else
        FileHandle.standardError.write(Data(bytes))
        #endif
    }
}
