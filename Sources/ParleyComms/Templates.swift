import Foundation
import Mustache
import ParleyCore
import Synchronization

// MARK: - Model

/// Why a message is sent. Marketing messages are subject to stricter rules (consent, quiet hours).
public enum TemplatePurpose: String, Sendable, Codable, CaseIterable {
    case transactional, marketing
}

/// A stored message template. `subject`, `text` and `html` are Mustache sources.
public struct MessageTemplate: Sendable, Equatable, Codable {
    /// Slug: lowercase letters, digits, `_` and `-`, 1–64 characters.
    public var name: String
    /// `"email"` or `"sms"`.
    public var channel: String
    public var purpose: TemplatePurpose
    /// Email only (required there). Rendered without HTML escaping, CR/LF removed.
    public var subject: String?
    /// The SMS body, or the plain-text part of an email. Rendered without HTML escaping.
    public var text: String
    /// Email only, optional. Rendered with HTML escaping of `{{variables}}`.
    public var html: String?
    /// Top-level variables that must be present and non-blank when rendering.
    public var requiredVariables: [String]
    public var exemptFromQuietHours: Bool
    /// Bumped on every edit; the compiled-template cache is keyed by `(name, version)`.
    public var version: Int
    /// Whether a message from this template is rewritten for its recipient by the model (when one
    /// is configured); the plain rendering is the fallback.
    public var personalize: Bool
    /// The sender's guidance for that rewrite (tone, what to emphasise), at most
    /// `TemplateRenderer.maxPersonalizationPromptCharacters`.
    public var personalizationPrompt: String?

    public init(
        name: String,
        channel: String,
        purpose: TemplatePurpose,
        subject: String? = nil,
        text: String,
        html: String? = nil,
        requiredVariables: [String] = [],
        exemptFromQuietHours: Bool = false,
        version: Int = 1,
        personalize: Bool = false,
        personalizationPrompt: String? = nil
    ) {
        self.name = name
        self.channel = channel
        self.purpose = purpose
        self.subject = subject
        self.text = text
        self.html = html
        self.requiredVariables = requiredVariables
        self.exemptFromQuietHours = exemptFromQuietHours
        self.version = version
        self.personalize = personalize
        self.personalizationPrompt = personalizationPrompt
    }

    private enum CodingKeys: String, CodingKey {
        case name, channel, purpose, subject, text, html, requiredVariables, exemptFromQuietHours, version, personalize, personalizationPrompt
    }

    /// Decodes with defaults for the optional-looking fields: `requiredVariables` = [],
    /// `exemptFromQuietHours` = false, `version` = 1, `personalize` = false.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try c.decode(String.self, forKey: .name)
        self.channel = try c.decode(String.self, forKey: .channel)
        self.purpose = try c.decode(TemplatePurpose.self, forKey: .purpose)
        self.subject = try c.decodeIfPresent(String.self, forKey: .subject)
        self.text = try c.decode(String.self, forKey: .text)
        self.html = try c.decodeIfPresent(String.self, forKey: .html)
        self.requiredVariables = try c.decodeIfPresent([String].self, forKey: .requiredVariables) ?? []
        self.exemptFromQuietHours = try c.decodeIfPresent(Bool.self, forKey: .exemptFromQuietHours) ?? false
        self.version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        self.personalize = try c.decodeIfPresent(Bool.self, forKey: .personalize) ?? false
        self.personalizationPrompt = try c.decodeIfPresent(String.self, forKey: .personalizationPrompt)
    }
}

/// The output of rendering a template. `subject` and `html` are nil for SMS.
public struct RenderedMessage: Sendable, Equatable {
    public var subject: String?
    public var text: String
    public var html: String?

    public init(subject: String?, text: String, html: String?) {
        self.subject = subject
        self.text = text
        self.html = html
    }
}

public enum TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The template name is not a valid slug (the offending name is attached).
    case invalidName(String)
    /// A part does not compile. `field` is `subject`, `text` or `html`.
    case syntax(field: String, message: String)
    /// Required variables that were missing, null or blank, in `requiredVariables` order.
    case missingVariables([String])
    /// Any other rule violation (channel rules, variable names, unsupported tags, ...).
    case invalid(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "invalid template name \"\(name)\": use 1–64 lowercase letters, digits, '_', '-' or '.'"
        case .syntax(let field, let message):
            return "template \(field) does not compile: \(message)"
        case .missingVariables(let names):
            return "missing required variables: \(names.joined(separator: ", "))"
        case .invalid(let message):
            return "invalid template: \(message)"
        }
    }
}

// MARK: - Values

/// How a `JSONValue` passed to a template renders.
///
/// Integral numbers render without a fractional part (`3`, not `3.0`); `null` and the empty
/// string render as nothing and are falsy in sections (so `{{#nickname}}…{{/nickname}}` is
/// skipped for `""`); arrays iterate in sections; objects open a scope in sections and support
/// dotted access (`{{vehicle.model}}`).
extension JSONValue {
    /// The value as swift-mustache consumes it: `String`, `Int`, `Double`, `Bool`, `[Any]`,
    /// `[String: Any]` (both render natively), or a blank marker for null/empty string.
    var mustacheValue: Any {
        switch self {
        case .string(let value):
            return value.isEmpty ? BlankValue() : value
        case .number(let value):
            // swift-mustache renders with String(describing:), which prints 3.0 for a Double.
            if let integer = Int(exactly: value) { return integer }
            return value
        case .bool(let value):
            return value
        case .array(let values):
            return values.map(\.mustacheValue)
        case .object(let values):
            return values.mapValues(\.mustacheValue)
        case .null:
            return BlankValue()
        }
    }

    /// True for null and for strings that are empty or whitespace only.
    var isBlank: Bool {
        switch self {
        case .null: return true
        case .string(let value): return value.allSatisfy(\.isWhitespace)
        default: return false
        }
    }
}

/// Stands in for null and "": swift-mustache resolves it to "no value", so it renders as
/// nothing, skips sections, opens inverted sections and still shadows outer scopes.
private struct BlankValue: MustacheCustomRepresentation {
    var representation: Any? { nil }
}

// MARK: - Compiled templates and cache

/// The parsed parts of one template version. Immutable; shared between renders.
public final class CompiledTemplate: Sendable {
    public let name: String
    public let version: Int
    let source: Source
    let subject: MustacheTemplate?
    let text: MustacheTemplate
    let html: MustacheTemplate?

    struct Source: Sendable, Equatable {
        var subject: String?
        var text: String
        var html: String?
    }

    init(name: String, version: Int, source: Source, subject: MustacheTemplate?, text: MustacheTemplate, html: MustacheTemplate?) {
        self.name = name
        self.version = version
        self.source = source
        self.subject = subject
        self.text = text
        self.html = html
    }
}

public struct TemplateCacheStats: Sendable, Equatable {
    public var hits: Int
    public var misses: Int
    public var entries: Int

    public init(hits: Int, misses: Int, entries: Int) {
        self.hits = hits
        self.misses = misses
        self.entries = entries
    }
}

/// A small thread-safe LRU cache of compiled templates keyed by `(name, version)`.
///
/// Editing a template must bump its version. As a guard against two different templates
/// sharing a key (for example a tenant override of a global default with the same name and
/// version), a hit is only used when the cached source text is identical; otherwise the
/// template is recompiled and replaces the entry.
public final class TemplateCache: Sendable {
    public static let shared = TemplateCache()

    public let capacity: Int
    private let state: Mutex<State>

    private struct Key: Hashable {
        var name: String
        var version: Int
    }

    private struct Entry {
        var compiled: CompiledTemplate
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var clock: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    public init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
        self.state = Mutex(State())
    }

    /// Returns the compiled template, parsing it only on a miss. Throws `.syntax` when a part
    /// does not compile (failures are not cached).
    public func compiled(for template: MessageTemplate) throws(TemplateError) -> CompiledTemplate {
        let key = Key(name: template.name, version: template.version)
        let source = CompiledTemplate.Source(subject: template.subject, text: template.text, html: template.html)
        let cached: CompiledTemplate? = state.withLock { state in
            state.clock += 1
            guard var entry = state.entries[key], entry.compiled.source == source else { return nil }
            entry.lastUse = state.clock
            state.entries[key] = entry
            state.hits += 1
            return entry.compiled
        }
        if let cached { return cached }

        // Parse outside the lock; if another thread won the race, keep its instance.
        let fresh = try TemplateCompiler.compile(template)
        return state.withLock { state in
            state.clock += 1
            state.misses += 1
            if let existing = state.entries[key], existing.compiled.source == source {
                state.entries[key]?.lastUse = state.clock
                return existing.compiled
            }
            if state.entries[key] == nil, state.entries.count >= capacity,
               let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                state.entries.removeValue(forKey: oldest)
            }
            state.entries[key] = Entry(compiled: fresh, lastUse: state.clock)
            return fresh
        }
    }

    public var stats: TemplateCacheStats {
        state.withLock { TemplateCacheStats(hits: $0.hits, misses: $0.misses, entries: $0.entries.count) }
    }

    public func removeAll() {
        state.withLock { $0.entries.removeAll() }
    }
}

// MARK: - Renderer

public enum TemplateRenderer {
    /// Maximum size of one part (subject, text or html) in UTF-8 bytes.
    public static let maxPartBytes = 100_000
    /// It goes into every personalisation request: keep it to guidance, not a second template.
    public static let maxPersonalizationPromptCharacters = 2000

    /// Checks names, channel/subject rules (email needs a subject; SMS has no subject/html),
    /// that every part compiles (syntax errors name the field and carry the library's error),
    /// that no part uses partials or empty tags, that required variables are plain names, and
    /// that marketing templates are not exempt from quiet hours.
    public static func validate(_ t: MessageTemplate) throws(TemplateError) {
        try checkStructure(t)
        _ = try TemplateCompiler.compile(t)
    }

    /// Renders `t` with `variables`.
    ///
    /// - Every required variable that is missing, null or blank is reported in one
    ///   `.missingVariables` error.
    /// - The SMS body / text part and the subject are rendered without HTML escaping; the
    ///   subject additionally has line breaks and control characters replaced so it is safe as a
    ///   header. The html part escapes `{{variables}}` as Mustache does by default.
    /// - A text part (or subject) that renders to nothing but whitespace is `.invalid`.
    public static func render(
        _ t: MessageTemplate,
        variables: [String: JSONValue],
        cache: TemplateCache = .shared
    ) throws(TemplateError) -> RenderedMessage {
        try checkStructure(t)
        // Author errors (syntax) are reported before data errors (missing variables).
        let compiled = try cache.compiled(for: t)
        let missing = t.requiredVariables.filter { variables[$0]?.isBlank ?? true }
        guard missing.isEmpty else { throw .missingVariables(missing) }

        let context: [String: Any] = variables.mapValues(\.mustacheValue)

        let text = compiled.text.render(context)
        guard !text.allSatisfy(\.isWhitespace) else {
            throw .invalid("text of \"\(t.name)\" rendered empty")
        }
        var subject: String?
        if let template = compiled.subject {
            let line = headerSafe(template.render(context))
            guard !line.isEmpty else { throw .invalid("subject of \"\(t.name)\" rendered empty") }
            subject = line
        }
        let html = compiled.html.map { $0.render(context) }
        return RenderedMessage(subject: subject, text: text, html: html)
    }

    /// The top-level variable names a template refers to, in order of first appearance across
    /// subject, text and html (best effort, for previews and documentation).
    ///
    /// Section names are included (`{{#items}}` → `items`), dotted names contribute their first
    /// component, transforms are unwrapped (`{{uppercased(name)}}` → `name`). Names used inside
    /// sections are included too, as Mustache may resolve them from the top level; names that
    /// are explicitly relative (`{{.}}`, `{{.field}}`) are not. Comments and pragmas are ignored.
    public static func variables(in t: MessageTemplate) -> [String] {
        var seen = Set<String>()
        var names: [String] = []
        for source in [t.subject, t.text, t.html].compactMap({ $0 }) {
            for tag in TagScanner.scan(source) {
                guard let name = tag.variableRoot, seen.insert(name).inserted else { continue }
                names.append(name)
            }
        }
        return names
    }

    // MARK: Rules

    // '.' lets packs namespace their templates ("<pack>.<template>").
    private static let nameCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789_-.")
    private static let variableCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    private static let variableFirstCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")

    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count) && name.allSatisfy(nameCharacters.contains)
            && !name.hasPrefix(".") && !name.hasSuffix(".") && !name.contains("..")
    }

    static func isPlainVariableName(_ name: String) -> Bool {
        guard let first = name.first, variableFirstCharacters.contains(first), name.count <= 64 else { return false }
        return name.allSatisfy(variableCharacters.contains)
    }

    /// Everything except compilation.
    private static func checkStructure(_ t: MessageTemplate) throws(TemplateError) {
        guard isValidName(t.name) else { throw .invalidName(t.name) }
        guard t.version >= 1 else { throw .invalid("version must be at least 1") }
        switch t.channel {
        case "email":
            guard let subject = t.subject, !subject.allSatisfy(\.isWhitespace) else {
                throw .invalid("email templates need a subject")
            }
            if let html = t.html, html.allSatisfy(\.isWhitespace) {
                throw .invalid("html part is empty; omit it instead")
            }
        case "sms":
            guard t.subject == nil else { throw .invalid("sms templates cannot have a subject") }
            guard t.html == nil else { throw .invalid("sms templates cannot have an html part") }
        default:
            throw .invalid("channel must be \"email\" or \"sms\", not \"\(t.channel)\"")
        }
        guard !t.text.allSatisfy(\.isWhitespace) else { throw .invalid("text is empty") }
        for (field, source) in [("subject", t.subject), ("text", t.text), ("html", t.html)] {
            if let source, source.utf8.count > maxPartBytes {
                throw .invalid("\(field) is longer than \(maxPartBytes) bytes")
            }
        }
        var seen = Set<String>()
        for variable in t.requiredVariables {
            guard isPlainVariableName(variable) else {
                throw .invalid("required variable \"\(variable)\" must be a plain name (letters, digits, '_', '-')")
            }
            guard seen.insert(variable).inserted else {
                throw .invalid("required variable \"\(variable)\" is listed twice")
            }
        }
        if t.purpose == .marketing, t.exemptFromQuietHours {
            throw .invalid("marketing templates cannot be exempt from quiet hours")
        }
        if let prompt = t.personalizationPrompt {
            guard prompt.count <= maxPersonalizationPromptCharacters else {
                throw .invalid("personalization_prompt is longer than \(maxPersonalizationPromptCharacters) characters")
            }
            guard !prompt.allSatisfy(\.isWhitespace) else {
                throw .invalid("personalization_prompt is empty; omit it instead")
            }
        }
    }

    /// Makes a rendered subject safe for a mail header: every run of line breaks, tabs and
    /// other control characters becomes one space; the result is trimmed.
    static func headerSafe(_ raw: String) -> String {
        var out = ""
        var pendingSpace = false
        for character in raw {
            let isControl = character.isNewline
                || character.unicodeScalars.contains { $0.properties.generalCategory == .control }
            if isControl {
                pendingSpace = true
                continue
            }
            if pendingSpace, !out.isEmpty, out.last != " " {
                out.append(" ")
            }
            pendingSpace = false
            out.append(character)
        }
        return out.trimmingCharacters(in: .whitespaces)
    }
}

// MARK: - Compilation

private enum TemplateCompiler {
    /// Switches HTML escaping off. On a line of its own so it is a standalone tag and does not
    /// change how the first line of the author's template is treated.
    static let textPragma = "{{% CONTENT_TYPE: TEXT}}\n"

    static func compile(_ t: MessageTemplate) throws(TemplateError) -> CompiledTemplate {
        let subject = try t.subject.map { (s: String) throws(TemplateError) in try part(s, field: "subject", plainText: true) }
        let text = try part(t.text, field: "text", plainText: true)
        let html = try t.html.map { (s: String) throws(TemplateError) in try part(s, field: "html", plainText: false) }
        return CompiledTemplate(
            name: t.name,
            version: t.version,
            source: .init(subject: t.subject, text: t.text, html: t.html),
            subject: subject,
            text: text,
            html: html
        )
    }

    private static func part(_ source: String, field: String, plainText: Bool) throws(TemplateError) -> MustacheTemplate {
        let compiled: MustacheTemplate
        do {
            compiled = try MustacheTemplate(string: plainText ? textPragma + source : source)
        } catch {
            // Report positions against the author's text, not the pragma-prefixed one.
            if plainText, let rawError = parseError(source) {
                throw .syntax(field: field, message: rawError)
            }
            throw .syntax(field: field, message: describe(error, lineOffset: plainText ? -1 : 0))
        }
        for tag in TagScanner.scan(source) {
            switch tag.sigil {
            case ">", "<":
                throw .invalid("\(field): partials ({{\(tag.sigil.map(String.init) ?? "")\(tag.body)}}) are not supported")
            case nil, "#", "^", "&", "{":
                if tag.body.isEmpty {
                    throw .invalid("\(field): empty tag {{\(tag.sigil.map(String.init) ?? "")}}")
                }
            default:
                break
            }
        }
        return compiled
    }

    private static func parseError(_ source: String) -> String? {
        do {
            _ = try MustacheTemplate(string: source)
            return nil
        } catch {
            return describe(error, lineOffset: 0)
        }
    }

    static func describe(_ error: any Error, lineOffset: Int) -> String {
        guard let parserError = error as? MustacheTemplate.ParserError else {
            return String(describing: error)
        }
        let reason: String
        if let known = parserError.error as? MustacheTemplate.Error {
            switch known {
            case .sectionCloseNameIncorrect: reason = "section closed with a different name, or closed without being opened"
            case .unfinishedName: reason = "malformed tag"
            case .expectedSectionEnd: reason = "section opened but never closed"
            case .invalidSetDelimiter: reason = "malformed set-delimiter tag"
            case .transformAppliedToInheritanceSection: reason = "transform applied to an inheritance block"
            case .textInsideInheritSection: reason = "text inside an inherited partial"
            case .invalidConfigVariableSyntax: reason = "malformed pragma"
            case .unrecognisedConfigVariable: reason = "unknown pragma"
            // The one left: a tag that may not appear inside an inherited partial.
            default: reason = "a tag that is not allowed inside an inherited partial"
            }
        } else if String(describing: parserError.error) == "overflow" {
            reason = "unexpected end of template (unclosed tag?)"
        } else {
            reason = "parse error"
        }
        let context = parserError.context
        let line = max(1, context.lineNumber + lineOffset)
        return "\(parserError.error): \(reason) (line \(line), column \(context.columnNumber))"
    }
}

// MARK: - Tag scanner (best effort, for variable listing and extra checks)

private struct ScannedTag {
    /// `#`, `^`, `/`, `!`, `>`, `<`, `&`, `$`, `=`, `%`, `{` (triple mustache) or nil (variable).
    var sigil: Character?
    /// Tag content after the sigil, trimmed.
    var body: String

    /// The root variable name this tag refers to, if any.
    var variableRoot: String? {
        switch sigil {
        case nil, "#", "^", "&", "{":
            break
        default:
            return nil
        }
        var name = Substring(body)
        // transforms: `uppercased(name)`, `reversed(sorted(list))`
        if let open = name.lastIndex(of: "(") {
            name = name[name.index(after: open)...]
            if let close = name.firstIndex(of: ")") { name = name[..<close] }
        }
        name = name.drop(while: \.isWhitespace)
        guard let first = name.first, first != "." else { return nil }
        guard let root = name.split(separator: ".").first else { return nil }
        let result = String(root).trimmingCharacters(in: .whitespaces)
        return result.isEmpty ? nil : result
    }
}

private enum TagScanner {
    static func scan(_ source: String) -> [ScannedTag] {
        var open = "{{"
        var close = "}}"
        var tags: [ScannedTag] = []
        var cursor = source.startIndex
        while cursor < source.endIndex, let openRange = source.range(of: open, range: cursor..<source.endIndex) {
            var contentStart = openRange.upperBound
            var closing = close
            var triple = false
            if contentStart < source.endIndex, source[contentStart] == "{" {
                triple = true
                closing = "}" + close
                contentStart = source.index(after: contentStart)
            }
            guard let closeRange = source.range(of: closing, range: contentStart..<source.endIndex) else { break }
            cursor = closeRange.upperBound
            let content = source[contentStart..<closeRange.lowerBound].trimmingCharacters(in: .whitespaces)
            if triple {
                tags.append(ScannedTag(sigil: "{", body: content))
                continue
            }
            guard let first = content.first, "#^/!><&$=%".contains(first) else {
                tags.append(ScannedTag(sigil: nil, body: content))
                continue
            }
            let body = content.dropFirst().trimmingCharacters(in: .whitespaces)
            if first == "=" {
                let parts = body.dropLast(body.hasSuffix("=") ? 1 : 0).split(whereSeparator: \.isWhitespace)
                if parts.count == 2 {
                    open = String(parts[0])
                    close = String(parts[1])
                }
            }
            tags.append(ScannedTag(sigil: first, body: body))
        }
        return tags
    }
}

// MARK: - Defaults

/// Global default templates. Tenants may override them with templates of the same name.
public enum DefaultTemplates {
    public static let appointmentReminder = MessageTemplate(
        name: "appointment_reminder",
        channel: "sms",
        purpose: .transactional,
        text: """
            Hi {{first_name}}, {{business_name}} here. Reminder: your \
            {{#service}}{{service}} {{/service}}appointment is {{appointment_date}} at {{appointment_time}}.\
            {{#location}} Where: {{location}}.{{/location}} \
            Reply C to confirm{{#business_phone}} or call {{business_phone}} to reschedule{{/business_phone}}.
            """,
        requiredVariables: ["first_name", "business_name", "appointment_date", "appointment_time"]
    )

    public static let documentRequest = MessageTemplate(
        name: "document_request",
        channel: "email",
        purpose: .transactional,
        subject: "{{firm_name}}: documents needed for {{matter_name}}",
        text: """
            Dear {{client_name}},

            To keep your matter "{{matter_name}}" moving, we need the following from you\
            {{#due_date}} by {{due_date}}{{/due_date}}:

            {{#documents}}
            - {{title}}{{#note}} ({{note}}){{/note}}
            {{/documents}}
            {{^documents}}
            - the documents we discussed at our last meeting
            {{/documents}}

            Please upload them securely here: {{upload_url}}
            Do not send originals or sensitive documents by reply email.
            {{#contact_name}}

            Questions? Contact {{contact_name}}{{#contact_phone}} at {{contact_phone}}{{/contact_phone}}.
            {{/contact_name}}

            {{firm_name}}
            """,
        html: """
            <p>Dear {{client_name}},</p>
            <p>To keep your matter &ldquo;{{matter_name}}&rdquo; moving, we need the following from you\
            {{#due_date}} by <strong>{{due_date}}</strong>{{/due_date}}:</p>
            <ul>
            {{#documents}}
              <li>{{title}}{{#note}} <em>({{note}})</em>{{/note}}</li>
            {{/documents}}
            {{^documents}}
              <li>the documents we discussed at our last meeting</li>
            {{/documents}}
            </ul>
            <p><a href="{{upload_url}}">Upload your documents securely</a>.
            Please do not send originals or sensitive documents by reply email.</p>
            {{#contact_name}}
            <p>Questions? Contact {{contact_name}}{{#contact_phone}} at {{contact_phone}}{{/contact_phone}}.</p>
            {{/contact_name}}
            <p>{{firm_name}}</p>
            """,
        requiredVariables: ["client_name", "firm_name", "matter_name", "upload_url"]
    )

    public static let followUp = MessageTemplate(
        name: "follow_up",
        channel: "sms",
        purpose: .marketing,
        text: """
            Hi {{first_name}}, thanks for choosing {{business_name}}\
            {{#purchase}} for your {{purchase}}{{/purchase}}! How is everything going? \
            Just reply with any questions{{#business_phone}} or call {{business_phone}}{{/business_phone}}. \
            Reply STOP to opt out.
            """,
        requiredVariables: ["first_name", "business_name"]
    )

    /// To the tenant's staff address when a conversation is handed to a person (docs/handoff.md).
    public static let handoffNotice = MessageTemplate(
        name: "core.handoff_notice",
        channel: "email",
        purpose: .transactional,
        subject: "{{tenant_name}}: a conversation needs a person ({{reason}})",
        text: """
            A conversation was handed to your team.

            Reason: {{reason}} ({{trigger}})
            {{#summary}}
            Summary: {{summary}}
            {{/summary}}

            Hand-off: {{handoff_id}}
            {{#session_id}}
            Session: {{session_id}}
            {{/session_id}}
            Open the Hand-offs view of the console to reply, or use POST /v1/handoffs/{{handoff_id}}/messages.
            """,
        requiredVariables: ["reason", "handoff_id"],
        exemptFromQuietHours: true
    )

    /// An invitation to join a tenant (docs/accounts.md): a one-time link.
    public static let userInvitation = MessageTemplate(
        name: "core.user_invitation",
        channel: "email",
        purpose: .transactional,
        subject: "You are invited to {{tenant_name}} on Parley",
        text: """
            You have been invited to join {{tenant_name}} as {{role}}.

            Accept the invitation (the link works once, until {{expires_at}}):
            {{link}}

            If you did not expect this, ignore this email.
            """,
        requiredVariables: ["tenant_name", "role", "link", "expires_at"],
        exemptFromQuietHours: true
    )

    /// A password-reset link (docs/accounts.md).
    public static let passwordReset = MessageTemplate(
        name: "core.password_reset",
        channel: "email",
        purpose: .transactional,
        subject: "Reset your Parley password",
        text: """
            Someone asked to reset the password of this account.

            Choose a new password (the link works once, until {{expires_at}}):
            {{link}}

            If it was not you, ignore this email: the password stays as it is.
            """,
        requiredVariables: ["link", "expires_at"],
        exemptFromQuietHours: true
    )

    public static let all: [MessageTemplate] = [appointmentReminder, documentRequest, followUp, handoffNotice, userInvitation, passwordReset]
}
