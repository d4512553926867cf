/// Assembles the served OpenAPI document from the core's part and the installed packs' parts, by
/// the rule scripts/sync-openapi uses for docs/openapi.yaml: a pack's tags go at the end of the
/// core's `tags:` list, its paths at the end of `paths:`, its schemas at the start of
/// `components.schemas`; packs in name order.
public enum OpenAPIAssembly {
    static let sections = ["tags", "paths", "schemas"]

    public static func assemble(core: String, packs: [DomainPack]) -> String {
        var lines = core.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last == "" { lines.removeLast() }
        var inserts: [String: [String]] = [:]
        for pack in packs.sorted(by: { $0.name < $1.name }) where !pack.openAPI.isEmpty {
            for (section, body) in parse(pack.openAPI) { inserts[section, default: []] += body }
        }
        guard !inserts.isEmpty,
              let tags = lines.firstIndex(of: "tags:"), let paths = lines.firstIndex(of: "paths:"),
              let schemas = lines.firstIndex(of: "  schemas:") else { return lines.joined(separator: "\n") }
        func endOfTopLevel(_ i: Int) -> Int {
            var j = i + 1
            while j < lines.count, lines[j].hasPrefix(" ") || lines[j].isEmpty { j += 1 }
            return j
        }
        let at = ["tags": endOfTopLevel(tags), "paths": endOfTopLevel(paths), "schemas": schemas + 1]
        for section in sections.sorted(by: { at[$0, default: 0] > at[$1, default: 0] }) {
            if let index = at[section], let body = inserts[section] { lines.insert(contentsOf: body, at: index) }
        }
        return lines.joined(separator: "\n")
    }

    /// A part's sections: the lines under each top-level `tags:`, `paths:`, `schemas:` (leading comments skipped).
    static func parse(_ part: String) -> [(String, [String])] {
        var out: [(String, [String])] = []
        for line in part.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if !line.hasPrefix(" "), line.hasSuffix(":"), sections.contains(String(line.dropLast())) {
                out.append((String(line.dropLast()), []))
            } else if !out.isEmpty {
                out[out.count - 1].1.append(line)
            }
        }
        return out.map { section, body in
            var body = body
            while body.last == "" { body.removeLast() }
            return (section, body)
        }
    }
}
