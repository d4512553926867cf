import Foundation
import ParleyConvert
import ParleyCore
import ParleyPackKit
import ParleyPlatform
import ParleyStorage

/// `parley seed support`: a small product-help knowledge base (written for this project) for
/// the fictional "Parley Kettle", in the collection `help`: one coherent help set in Markdown,
/// HTML, PDF, DOCX and XLSX (a price list), embedded in the binary (`SupportDemoFiles`,
/// generated from docs/examples/support-kb/ by scripts/sync-support-demo) and converted by
/// `DocumentConverter` as it is seeded, so the demo exercises conversion and tables.
enum SupportDemo {
    struct File: Sendable {
        var filename: String
        var bytes: [UInt8]
        var tags: [String]
    }

    static let collection = "help"

    static let tags: [String: [String]] = [
        "quick-start.md": ["setup"],
        "troubleshooting.html": ["troubleshooting"],
        "warranty.pdf": ["warranty"],
        "setup-guide.docx": ["setup"],
        "price-list.xlsx": ["prices"],
    ]

    /// The embedded documents; a file whose embedded bytes do not decode is left out (and the
    /// test comparing them with docs/examples/support-kb/ fails).
    static var files: [File] {
        SupportDemoFiles.files.compactMap { entry in
            guard let data = Data(base64Encoded: entry.base64, options: .ignoreUnknownCharacters) else { return nil }
            return File(filename: entry.filename, bytes: Array(data), tags: tags[entry.filename] ?? [])
        }
    }

    struct Report {
        var added = 0
        var unchanged = 0
        var skipped: [String] = []
    }

    static func seed(_ kb: KnowledgeService, tenantID: String, converter: DocumentConverter = DocumentConverter()) async throws -> Report {
        let ctx = ActionContext(principal: Principal(tenantID: tenantID, keyID: nil, role: .admin, actor: "cli"), requestID: nil)
        if try await kb.collections(ctx.principal).contains(where: { $0.name == collection }) == false {
            _ = try await kb.createCollection(ctx, name: collection, description: "Parley Kettle product help (demo)")
        }
        var report = Report()
        for file in files {
            let converted: ConvertedDocument
            do {
                converted = try converter.convert(file.bytes, filename: file.filename)
            } catch {
                report.skipped.append("\(file.filename): \(error.message)")
                continue
            }
            let result = try await kb.ingest(ctx, IngestRequest(collection: collection, title: converted.title, filename: file.filename,
                                                                markdown: converted.markdown, format: converted.format.rawValue, tags: file.tags))
            if result.outcome == .unchanged { report.unchanged += 1 } else { report.added += 1 }
        }
        return report
    }
}

enum SupportCommands {
    static let help = """
        USAGE: parley seed support [--tenant <slug>]

        OPTIONS:
          --tenant <slug>   The tenant's slug. (default: default)
        """

    static let all: [PackCommand] = [
        PackCommand(.seed, "support", summary: "Load a small product-help knowledge base (collection 'help') into a tenant; running it again changes nothing.",
                    help: help) { ctx in
            var slug = "default"
            var args = ctx.arguments[...]
            while let arg = args.popFirst() {
                if arg == "--tenant", let value = args.popFirst() { slug = value } else if arg.hasPrefix("--tenant=") { slug = String(arg.dropFirst(9)) } else {
                    throw ParleyError.badRequest("unknown argument '\(arg)'\n\n\(help)")
                }
            }
            guard let tenant = try await TenantService(store: ctx.store, clock: ctx.clock).list().first(where: { $0.slug == slug }) else {
                throw ParleyError.notFound("no tenant '\(slug)': start `parley serve` once (it creates 'default') or pass --tenant", code: "tenant_not_found")
            }
            let kb = KnowledgeService(store: ctx.store, clock: ctx.clock, settings: try SupportSettings.load(ctx.config), embedder: nil, logger: ctx.logger)
            let report = try await SupportDemo.seed(kb, tenantID: tenant.id)
            print("seeded the help knowledge base into \(tenant.slug): \(report.added) document(s) added, \(report.unchanged) unchanged")
            for s in report.skipped { print("skipped \(s)") }
        },
    ]
}
