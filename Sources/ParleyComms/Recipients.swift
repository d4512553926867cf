import Foundation

/// Why a recipient address was rejected.
///
/// The associated value is the reason in plain English; `description` adds what was invalid, in
/// the lower-case, unpunctuated style of the API error messages it ends up in. Neither repeats the
/// raw input, which may hold control characters (log injection) or personal data; at most one
/// offending character is named.
public enum RecipientError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidEmail(String)
    case invalidPhone(String)

    public var description: String {
        switch self {
        case .invalidEmail(let reason): "invalid email address: \(reason)"
        case .invalidPhone(let reason): "invalid phone number: \(reason)"
        }
    }
}

/// Validation and normalisation of message recipients, so that stored addresses are canonical
/// and safe to put in message headers and provider API calls.
public enum Recipients {
    /// Characters allowed in an unquoted local part besides letters and digits (RFC 5322 atext).
    private static let atextSymbols = Set("!#$%&'*+-/=?^_`{|}~".unicodeScalars)

    /// Trims, lowercases the domain (keeps the local part, whose case the receiving server may
    /// honour), and checks a practical subset of RFC 5321/5322: one @; a local part of 1–64
    /// characters of atext and dots, with no leading, trailing or doubled dot (quoted strings are
    /// rejected); a domain of at least two labels of 1–63 letters, digits or hyphens, not starting
    /// or ending with a hyphen; at most 254 characters in all. ASCII only: internationalised
    /// domains must be given as punycode (xn--), which also rules out look-alike characters.
    public static func normalizeEmail(_ text: String) throws(RecipientError) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .invalidEmail("it is empty") }
        if let bad = trimmed.unicodeScalars.first(where: { !$0.isPrintableASCII }) {
            throw .invalidEmail(problem(with: bad) ?? (bad.isASCII
                ? "it contains \(quoted(bad))"
                : "it contains the non-ASCII character \(quoted(bad)); only ASCII is accepted, so international domains must be written in punycode (xn--)"))
        }
        guard trimmed.utf8.count <= 254 else { throw .invalidEmail("it is longer than 254 characters") }

        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw .invalidEmail(parts.count == 1 ? "it has no @" : "it has more than one @")
        }
        let local = parts[0], domain = parts[1].lowercased()
        try checkLocalPart(local)
        try checkDomain(domain)
        return "\(local)@\(domain)"
    }

    private static func checkLocalPart(_ local: Substring) throws(RecipientError) {
        guard !local.isEmpty else { throw .invalidEmail("there is nothing before the @") }
        guard local.utf8.count <= 64 else {
            throw .invalidEmail("the part before the @ is longer than 64 characters")
        }
        if let bad = local.unicodeScalars.first(where: { !($0.isASCIILetterOrDigit || $0 == "." || atextSymbols.contains($0)) }) {
            throw .invalidEmail(bad == "\""
                ? "quoted local parts are not supported"
                : "the part before the @ cannot contain \(quoted(bad))")
        }
        guard local.first != ".", local.last != "." else {
            throw .invalidEmail("the part before the @ cannot start or end with a dot")
        }
        guard !local.contains("..") else {
            throw .invalidEmail("the part before the @ cannot contain two dots in a row")
        }
    }

    private static func checkDomain(_ domain: String) throws(RecipientError) {
        guard !domain.isEmpty else { throw .invalidEmail("there is nothing after the @") }
        guard !domain.hasPrefix("[") else { throw .invalidEmail("IP address literals are not supported") }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { throw .invalidEmail("the domain must contain a dot, as in example.com") }
        for label in labels {
            guard !label.isEmpty else {
                throw .invalidEmail("the domain cannot start or end with a dot or contain two dots in a row")
            }
            guard label.utf8.count <= 63 else {
                throw .invalidEmail("each dot-separated part of the domain must be at most 63 characters")
            }
            if let bad = label.unicodeScalars.first(where: { !($0.isASCIILetterOrDigit || $0 == "-") }) {
                throw .invalidEmail("the domain cannot contain \(quoted(bad))")
            }
            guard label.first != "-", label.last != "-" else {
                throw .invalidEmail("a part of the domain cannot start or end with a hyphen")
            }
        }
        // An all-digit top-level label means a bare IP address or a typo, never a real domain.
        if let tld = labels.last, tld.unicodeScalars.allSatisfy(\.isASCIIDigit) {
            throw .invalidEmail("the domain must end in a name, not a number")
        }
    }

    /// E.164: "+" then 8–15 digits, the first not 0. Accepts common human input: spaces, dashes,
    /// dots and parentheses are removed, and a leading "00" becomes "+". A "(0)" after the country
    /// code ("+44 (0)20 …") is the written form of a trunk prefix that is not dialled from abroad,
    /// so it is dropped rather than turned into a wrong number. Without a leading + or 00 the
    /// input is rejected: we do not guess a country. Letters and extensions are rejected.
    public static func normalizePhone(_ text: String) throws(RecipientError) -> String {
        let scalars = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars)
        guard !scalars.isEmpty else { throw .invalidPhone("it is empty") }

        var digits = ""
        var inParentheses = false
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case "0"..."9":
                digits.unicodeScalars.append(scalar)
            case "+":
                guard index == 0 else { throw .invalidPhone("a + may only appear at the very start") }
            case "(":
                guard !inParentheses else { throw .invalidPhone("its parentheses are unbalanced") }
                if !digits.isEmpty, scalars[index...].starts(with: ["(", "0", ")"]) {
                    index += 3
                    continue
                }
                inParentheses = true
            case ")":
                guard inParentheses else { throw .invalidPhone("its parentheses are unbalanced") }
                inParentheses = false
            case " ", "-", ".":
                break
            default:
                // Copy-pasted numbers often carry no-break spaces or typographic dashes.
                let category = scalar.properties.generalCategory
                if category == .spaceSeparator || category == .dashPunctuation { break }
                if scalar.properties.isAlphabetic {
                    throw .invalidPhone(
                        "it contains letters; extensions and lettered numbers such as 1-800-FLOWERS are not supported")
                }
                if scalar.properties.numericType != nil {
                    throw .invalidPhone("it contains \(quoted(scalar)); only the digits 0-9 are accepted")
                }
                throw .invalidPhone(problem(with: scalar) ?? "it cannot contain \(quoted(scalar))")
            }
            index += 1
        }
        guard !inParentheses else { throw .invalidPhone("its parentheses are unbalanced") }

        let number: Substring
        if scalars[0] == "+" {
            number = digits[...]
        } else if digits.hasPrefix("00") {
            number = digits.dropFirst(2)
        } else {
            throw .invalidPhone("it must start with + or 00 and the country code; the country is not guessed")
        }
        guard let first = number.first else { throw .invalidPhone("it has no digits after the country prefix") }
        guard first != "0" else { throw .invalidPhone("the country code cannot start with 0") }
        guard number.count >= 8 else {
            throw .invalidPhone("it has \(number.count) digits including the country code; at least 8 are needed")
        }
        guard number.count <= 15 else {
            throw .invalidPhone("it has \(number.count) digits including the country code; at most 15 are allowed")
        }
        return "+" + String(number)
    }

    /// The reason for a line break, control character or space, or nil for any other character,
    /// which the caller describes in context.
    private static func problem(with scalar: Unicode.Scalar) -> String? {
        switch scalar {
        case "\r", "\n", "\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}":
            return "it contains a line break"
        case " ":
            return "it contains a space"
        default:
            break
        }
        let category = scalar.properties.generalCategory
        if category == .control || category == .format {
            return "it contains the control character \(quoted(scalar))"
        }
        if scalar.properties.isWhitespace { return "it contains a space (\(quoted(scalar)))" }
        return nil
    }

    /// Names a character without echoing anything unprintable: 'x' for visible ASCII, else U+XXXX.
    private static func quoted(_ scalar: Unicode.Scalar) -> String {
        if scalar.isPrintableASCII && scalar != " " { return "'\(Character(scalar))'" }
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

extension Unicode.Scalar {
    fileprivate var isPrintableASCII: Bool { (0x21...0x7E).contains(value) }
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
    fileprivate var isASCIILetterOrDigit: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || isASCIIDigit
    }
}
