import ArgumentParser
import Foundation
import ParleyConvert
import ParleyCore

/// `parley convert FILE`: prints the document as Markdown (no database, no server).
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Print a document (PDF, DOCX, XLSX, PPTX, HTML, CSV, JSON, text, Markdown) as Markdown.",
        discussion: "The format comes from the file's extension, else from its first bytes. On an unreadable, unsupported or too large document it prints the reason on standard error and exits 1."
    )

    @Argument(help: "The document to convert; '-' reads standard input.")
    var file: String

    @Option(name: .customLong("format"), help: "Treat the input as this format: pdf, docx, xlsx, pptx, html, csv, json, text or markdown.")
    var format: String?

    @Flag(name: .customLong("json"), help: "Print {\"format\",\"title\",\"markdown\"} as JSON instead of the Markdown alone.")
    var json = false

    @Option(name: .customLong("repeat"), help: "Convert the document this many times and print the median seconds per conversion on standard error (for benchmarks).")
    var repeatCount = 1

    func run() throws {
        let converter = DocumentConverter()
        var filename: String? = file == "-" ? nil : file
        if let format {
            guard let known = DocumentFormat(rawValue: format.lowercased()) else {
                fail("--format must be one of: " + DocumentFormat.allCases.map(\.rawValue).joined(separator: ", "))
            }
            filename = "document." + (known == .markdown ? "md" : known == .text ? "txt" : known.rawValue)
        }
        let bytes = readInput(limit: converter.limits.maxInputBytes)
        do {
            guard (1...10_000).contains(repeatCount) else { fail("--repeat must be between 1 and 10000") }
            var document = try converter.convert(bytes, filename: filename, contentType: nil)
            if repeatCount > 1 {
                var times: [Double] = []
                for _ in 0..<repeatCount {
                    let start = ContinuousClock.now
                    document = try converter.convert(bytes, filename: filename, contentType: nil)
                    let elapsed = ContinuousClock.now - start
                    times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                }
                let median = times.sorted()[times.count / 2]
                FileHandle.standardError.write(Data("seconds per conversion: \(median)\n".utf8))
            }
            if json {
                struct Output: Encodable { var format: String; var title: String?; var markdown: String }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let data = try encoder.encode(Output(format: document.format.rawValue, title: document.title, markdown: document.markdown))
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            } else {
                FileHandle.standardOutput.write(Data(document.markdown.utf8))
            }
        } catch let error as ParleyError {
            fail("\(file): \(error.message)")
        } catch {
            fail("\(file): \(error)")
        }
    }

    private func readInput(limit: Int) -> [UInt8] {
        if file == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            if data.count > limit { fail("standard input is \(data.count) bytes; the largest accepted is \(limit)") }
            return [UInt8](data)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        guard let size else { fail("cannot read \(file): no such file") }
        if size > limit { fail("\(file) is \(size) bytes; the largest accepted is \(limit)") }
        guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
        return [UInt8](data)
    }
}
