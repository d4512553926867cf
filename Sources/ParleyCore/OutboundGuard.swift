import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as its bytes (4 or 16).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a literal address (`10.0.0.1`, `::1`, `[::1]`, `::ffff:127.0.0.1`); nil for anything else.
    public init?(_ text: String) {
        var literal = text
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
        if let zone = literal.firstIndex(of: "%") { literal = String(literal[..<zone]) }
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var isIPv4: Bool { bytes.count == 4 }

    /// The IPv4 address an IPv6 address carries (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
    /// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`), which is where a connection to it really goes.
    public var embeddedIPv4: IPAddress? {
        guard bytes.count == 16 else { return nil }
        let head = Array(bytes[0..<12])
        let mapped = Array(repeating: UInt8(0), count: 10) + [0xFF, 0xFF]
        let compatible = Array(repeating: UInt8(0), count: 12)
        let nat64: [UInt8] = [0x00, 0x64, 0xFF, 0x9B] + Array(repeating: 0, count: 8)
        guard head == mapped || head == nat64 || (head == compatible && Array(bytes[12..<15]) != [0, 0, 0]) else {
            return nil
        }
        return IPAddress(bytes: Array(bytes[12..<16]))
    }

    /// Addresses a tenant's outbound call must not reach, with the reason; nil for a public address.
    public var nonPublicReason: String? {
        if let v4 = embeddedIPv4 { return v4.nonPublicReason.map { "\($0) (as an IPv4-in-IPv6 address)" } }
        for (network, reason) in IPNetwork.nonPublic where network.contains(self) { return reason }
        return nil
    }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
        return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : bytes.map { String($0, radix: 16) }.joined(separator: ".")
    }
}

/// A CIDR block (`10.0.0.0/8`, `fc00::/7`); a bare address is a /32 or /128.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        let maxPrefix = address.bytes.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
            prefix = p
        } else {
            prefix = maxPrefix
        }
        self.address = address
    }

    public func contains(_ ip: IPAddress) -> Bool {
        guard ip.bytes.count == address.bytes.count else { return false }
        var remaining = prefix
        for (a, b) in zip(address.bytes, ip.bytes) {
            guard remaining > 0 else { return true }
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(address)/\(prefix)" }

    /// Loopback, private, link-local (and so cloud metadata), unspecified, multicast, reserved and
    /// documentation ranges: never reached on a tenant's behalf unless the installation allows them.
    static let nonPublic: [(IPNetwork, String)] = [
        ("0.0.0.0/8", "an unspecified (\"this network\") address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private (RFC 1918) address"),
        ("172.16.0.0/12", "a private (RFC 1918) address"),
        ("192.168.0.0/16", "a private (RFC 1918) address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("169.254.0.0/16", "a link-local address (where cloud metadata services answer)"),
        ("192.0.0.0/24", "a reserved protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved (or broadcast) address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
        ("100::/64", "a discard address"),
        ("2001:db8::/32", "a documentation address"),
    ].compactMap { text, reason in IPNetwork(text).map { ($0, reason) } }
}

/// What the installation lets tenants' outbound calls reach besides public addresses:
/// `PARLEY_OUTBOUND_ALLOW`, a comma list of CIDR blocks, addresses and host names.
public struct OutboundPolicy: Sendable, Equatable {
    public var networks: [IPNetwork]
    public var hosts: Set<String>

    public init(networks: [IPNetwork] = [], hosts: Set<String> = []) {
        self.networks = networks
        self.hosts = hosts
    }

    /// Public addresses only.
    public static let publicOnly = OutboundPolicy()

    /// Parses the setting's value; nil when an entry is neither a CIDR block, an address nor a host name.
    public static func parse(_ text: String) -> OutboundPolicy? {
        var policy = OutboundPolicy()
        for raw in text.split(separator: ",") {
            let item = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if item.isEmpty { continue }
            if let network = IPNetwork(item) {
                policy.networks.append(network)
            } else if item.contains("/") || item.contains(":") {
                return nil
            } else if item.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }),
                      !item.hasPrefix("."), !item.hasSuffix("."), item.contains(where: \.isLetter) {
                policy.hosts.insert(item)
            } else {
                return nil
            }
        }
        return policy
    }

    func allows(_ ip: IPAddress) -> Bool {
        networks.contains { $0.contains(ip) || ip.embeddedIPv4.map($0.contains) == true }
    }
}

/// Why an outbound call on a tenant's behalf was not made.
public struct OutboundRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The one check before Parley connects anywhere on a tenant's behalf (its provider channels;
/// later the workflow engine's HTTP step and MCP servers): the host is resolved, every address is
/// checked, and the caller connects to the checked address (never resolving again, so a DNS
/// answer that changes in between, as in DNS rebinding, cannot redirect it). Loopback, private,
/// link-local (cloud metadata), unspecified, multicast and reserved addresses, also in their
/// IPv4-in-IPv6 forms, are refused unless `PARLEY_OUTBOUND_ALLOW` lists them. Redirects are not
/// followed by callers: each hop would need the same check.
public struct OutboundGuard: Sendable {
    public typealias Resolver = @Sendable (String) async throws -> [IPAddress]

    public let policy: OutboundPolicy
    let resolver: Resolver

    public init(policy: OutboundPolicy, resolver: @escaping Resolver = OutboundGuard.systemResolve) {
        self.policy = policy
        self.resolver = resolver
    }

    /// Resolves `host` and returns the address to connect to, or throws why it may not be reached.
    /// `what` names the setting in messages ("base_url").
    public func check(host rawHost: String, what: String) async throws(OutboundRefusal) -> IPAddress {
        var host = rawHost.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host = String(host.dropLast()) }
        let addresses: [IPAddress]
        if let literal = IPAddress(host) {
            addresses = [literal]
        } else {
            do {
                addresses = try await resolver(host)
            } catch {
                throw OutboundRefusal(message: "\(what): the host \(rawHost) could not be resolved (\(error))")
            }
            guard !addresses.isEmpty else { throw OutboundRefusal(message: "\(what): the host \(rawHost) has no address") }
        }
        if policy.hosts.contains(host) { return addresses[0] }
        for ip in addresses where !policy.allows(ip) {
            if let reason = ip.nonPublicReason {
                let via = IPAddress(host) == nil ? "\(rawHost) resolves to \(ip), " : "\(ip) is "
                throw OutboundRefusal(message: "\(what): \(via)\(reason); Parley does not connect there on a tenant's behalf "
                                      + "unless the installation lists it in PARLEY_OUTBOUND_ALLOW")
            }
        }
        return addresses[0]
    }

    /// The system resolver (getaddrinfo, /etc/hosts included), on a thread of its own.
    public static let systemResolve: Resolver = { host in
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try resolveNow(host) }) }
        }
    }

    struct ResolveError: Error, CustomStringConvertible {
        var code: Int32
        var description: String { String(cString: gai_strerror(code)) }
    }

    private static func resolveNow(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &result)
        guard status == 0 else { throw ResolveError(code: status) }
        defer { freeaddrinfo(result) }
        var out: [IPAddress] = []
        var cursor = result
        while let info = cursor {
            if let sa = info.pointee.ai_addr {
                switch Int32(info.pointee.ai_family) {
                case AF_INET:
                    let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    if let ip = withUnsafeBytes(of: a, { IPAddress(bytes: Array($0)) }), !out.contains(ip) { out.append(ip) }
                case AF_INET6:
                    let a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    if let ip = withUnsafeBytes(of: a, { IPAddress(bytes: Array($0)) }), !out.contains(ip) { out.append(ip) }
                default:
                    break
                }
            }
            cursor = info.pointee.ai_next
        }
        return out
    }
}
