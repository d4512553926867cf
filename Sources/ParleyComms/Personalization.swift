import Foundation
import ParleyCore
import ParleyStorage

extension CommsSchema {
    static let personalizationMigration = Migration("0011_template_personalization", [
        "ALTER TABLE message_templates ADD COLUMN personalize %BOOL% NOT NULL DEFAULT FALSE",
        "ALTER TABLE message_templates ADD COLUMN personalization_prompt TEXT",
        // `template` | `ai`; NULL for a message whose caller wrote the text.
        "ALTER TABLE messages ADD COLUMN content_source TEXT",
        // How personalisation ended (`ai`, `fallback_timeout`, ...); NULL when it was not attempted.
        "ALTER TABLE messages ADD COLUMN personalization TEXT",
    ])
}

/// Rewrites a rendered template for its recipient (in ParleyServer: the agent runtime's model).
///
/// Only the returned `text` is used: the subject stays the template's, and the HTML part is
/// derived from the text (`Personalization.html`), so a model never writes markup or headers.
/// Returning nil means "not now" (no model available): the plain rendering is sent. It runs
/// under a deadline that cancels it, so it must honour cancellation; a model's own timeout is
/// best thrown as `PersonalizationTimedOut`.
public protocol MessagePersonalizer: Sendable {
    func personalize(_ rendered: RenderedMessage, template: MessageTemplate, variables: [String: JSONValue],
                     channel: Channel) async throws -> RenderedMessage?
}

/// Thrown by a personalizer whose model did not answer in time (counted as `fallback_timeout`).
public struct PersonalizationTimedOut: Error, Sendable {
    public init() {}
}

/// Where a message's text came from.
public enum ContentSource: String, Sendable, Codable {
    /// The template's plain rendering (personalisation off, or its fallback).
    case template
    /// The model's rewrite of the rendering, checked against it.
    case ai
}

/// How one personalisation attempt ended; also the metric's `outcome` label.
public enum PersonalizationOutcome: String, Sendable, Codable, CaseIterable {
    case ai
    /// The model did not answer within `PersonalizationSettings.timeout`.
    case fallbackTimeout = "fallback_timeout"
    /// The model failed (HTTP error, transport, open circuit, truncated answer, ...).
    case fallbackError = "fallback_error"
    /// The answer was empty, too long, or lost or invented a fact.
    case fallbackValidation = "fallback_validation"
    /// The personalizer declined (no model to ask).
    case fallbackUnavailable = "fallback_unavailable"
}

public struct PersonalizationSettings: Sendable, Equatable {
    /// The whole personalisation, failover included, must finish within this.
    public var timeout: Duration
    /// An SMS rewrite longer than this (characters) is refused; the channel's own limit.
    public var maxSMSCharacters: Int
    /// An email text rewrite longer than this (characters) is refused...
    public var maxEmailCharacters: Int
    /// ...and so is one longer than `lengthFactor` × the plain text + `lengthAllowance`: a rewrite
    /// is about the same message, not an essay around it.
    public var lengthFactor: Double
    public var lengthAllowance: Int

    public init(timeout: Duration = .milliseconds(4000), maxSMSCharacters: Int = 1600, maxEmailCharacters: Int = 20_000,
                lengthFactor: Double = 3, lengthAllowance: Int = 400) {
        self.timeout = timeout
        self.maxSMSCharacters = maxSMSCharacters
        self.maxEmailCharacters = maxEmailCharacters
        self.lengthFactor = lengthFactor
        self.lengthAllowance = lengthAllowance
    }
}

/// The checks and the deadline around a `MessagePersonalizer`. Every path that is not a valid
/// rewrite ends in the plain rendering: personalisation can change wording, never whether or
/// what (in facts) a message says.
public enum Personalization {
    public struct Result: Sendable, Equatable {
        public var rendered: RenderedMessage
        public var outcome: PersonalizationOutcome
        public var source: ContentSource { outcome == .ai ? .ai : .template }

        public init(rendered: RenderedMessage, outcome: PersonalizationOutcome) {
            self.rendered = rendered
            self.outcome = outcome
        }
    }

    /// Asks `personalizer` for a rewrite of `plain` under the deadline and keeps it only if it
    /// passes `check`. Never throws: failures are outcomes.
    public static func run(_ personalizer: any MessagePersonalizer, plain: RenderedMessage, template: MessageTemplate,
                           variables: [String: JSONValue], channel: Channel, settings: PersonalizationSettings) async -> Result {
        let fallback = { (outcome: PersonalizationOutcome) in Result(rendered: plain, outcome: outcome) }
        let answer: Race
        do {
            answer = try await race(settings.timeout) {
                try await personalizer.personalize(plain, template: template, variables: variables, channel: channel)
            }
        } catch is PersonalizationTimedOut {
            return fallback(.fallbackTimeout)
        } catch {
            return fallback(.fallbackError)
        }
        switch answer {
        case .timedOut:
            return fallback(.fallbackTimeout)
        case .answered(nil):
            return fallback(.fallbackUnavailable)
        case .answered(let candidate?):
            guard let text = check(candidate.text, plain: plain, template: template, variables: variables, channel: channel, settings: settings) else {
                return fallback(.fallbackValidation)
            }
            let html = plain.html == nil ? nil : self.html(text, links: links(in: plain.text))
            return Result(rendered: RenderedMessage(subject: plain.subject, text: text, html: html), outcome: .ai)
        }
    }

    enum Race: Sendable {
        case answered(RenderedMessage?)
        case timedOut
    }

    /// Runs `work` against a timer; the loser is cancelled. A caller's cancellation ends both.
    static func race(_ timeout: Duration, _ work: @escaping @Sendable () async throws -> RenderedMessage?) async throws -> Race {
        try await withThrowingTaskGroup(of: Race.self) { group in
            group.addTask { .answered(try await work()) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return .timedOut
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { return .timedOut }
            return first
        }
    }

    /// The rewrite, trimmed, if it may be sent instead of `plain`; nil otherwise.
    ///
    /// Refused: an empty answer; one over the channel's size (SMS: `maxSMSCharacters`; email:
    /// `maxEmailCharacters`, and `lengthFactor` × the plain text + `lengthAllowance`); one that
    /// loses a fact — a required variable's string or number value that appears in the plain
    /// text must appear in the rewrite (whitespace runs compared as one space); one that invents
    /// one — every number (run of digits) and link (URL or email address) in the rewrite must
    /// also be in the plain text or the subject.
    public static func check(_ candidate: String, plain: RenderedMessage, template: MessageTemplate, variables: [String: JSONValue],
                             channel: Channel, settings: PersonalizationSettings) -> String? {
        let text = candidate.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        switch channel {
        case .sms:
            guard text.count <= settings.maxSMSCharacters else { return nil }
        case .email:
            let relative = Int(Double(plain.text.count) * settings.lengthFactor) + settings.lengthAllowance
            guard text.count <= min(settings.maxEmailCharacters, relative) else { return nil }
        }
        let plainFlat = collapse(plain.text)
        let flat = collapse(text)
        for name in template.requiredVariables {
            guard let fact = factText(variables[name]).map(collapse), !fact.isEmpty, plainFlat.contains(fact) else { continue }
            guard flat.contains(fact) else { return nil }
        }
        let known = plain.text + "\n" + (plain.subject ?? "")
        let knownNumbers = Set(numbers(in: known))
        guard numbers(in: text).allSatisfy(knownNumbers.contains) else { return nil }
        let knownLinks = Set(links(in: known))
        guard links(in: text).allSatisfy(knownLinks.contains) else { return nil }
        return text
    }

    /// A value as the template renders it, for the facts check (strings and numbers only).
    package static func factText(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s): return s
        case .number(let n): return Int(exactly: n).map(String.init) ?? String(n)
        default: return nil
        }
    }

    package static func collapse(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// Maximal runs of ASCII digits ("10:30" → "10", "30").
    package static func numbers(in text: String) -> [String] {
        var out: [String] = []
        var current = ""
        for ch in text.unicodeScalars {
            if ("0"..."9").contains(ch) {
                current.unicodeScalars.append(ch)
            } else if !current.isEmpty {
                out.append(current)
                current = ""
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// URLs (`scheme://…`, `www.…`) and email addresses, without trailing punctuation.
    package static func links(in text: String) -> [String] {
        text.split(whereSeparator: { $0.isWhitespace || "<>\"'()[]".contains($0) }).compactMap { raw in
            let word = raw.trimmingCharacters(in: CharacterSet(charactersIn: ".,;:!?"))
            let lower = word.lowercased()
            let isLink = lower.contains("://") || lower.hasPrefix("www.") || (word.contains("@") && word.contains("."))
            return isLink && !word.isEmpty ? word : nil
        }
    }

    /// A simple HTML part for a personalised text: HTML-escaped paragraphs (blank lines), line
    /// breaks kept, and the plain text's own links made clickable (no other link can be there:
    /// `check` refuses invented ones).
    public static func html(_ text: String, links: [String]) -> String {
        let web = Set(links.filter { $0.lowercased().hasPrefix("http://") || $0.lowercased().hasPrefix("https://") })
        let paragraphs = text.replacingOccurrences(of: "\r\n", with: "\n")
            .components(separatedBy: "\n\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
        let body = paragraphs.map { paragraph in
            let lines = paragraph.components(separatedBy: "\n").map { line in
                line.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
                    let bare = word.trimmingCharacters(in: CharacterSet(charactersIn: ".,;:!?()"))
                    guard web.contains(bare), let range = word.range(of: bare) else { return escape(String(word)) }
                    let link = "<a href=\"\(escape(bare))\">\(escape(bare))</a>"
                    return escape(String(word[..<range.lowerBound])) + link + escape(String(word[range.upperBound...]))
                }.joined(separator: " ")
            }
            return "<p>" + lines.joined(separator: "<br>\n") + "</p>"
        }
        return body.joined(separator: "\n")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }
}
