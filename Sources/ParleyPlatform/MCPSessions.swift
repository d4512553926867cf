import Crypto
import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// The sessions of MCP clients connected to `/mcp` (docs/mcp.md): kept in the database, so any
/// replica answers a session another one opened, and a session ended with `DELETE /mcp` stays
/// ended everywhere.
public enum MCPSessionSchema {
    public static let migrations: [Migration] = [
        Migration("0024_mcp_sessions", [
            """
            CREATE TABLE mcp_sessions (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                actor TEXT NOT NULL,
                protocol_version TEXT NOT NULL,
                client_name TEXT,
                created_at %TIMESTAMP% NOT NULL,
                last_seen_at %TIMESTAMP% NOT NULL,
                ended_at %TIMESTAMP%
            )
            """,
            "CREATE INDEX mcp_sessions_tenant ON mcp_sessions (tenant_id, last_seen_at)",
        ]),
    ]
}

/// One MCP session as `/mcp` sees it.
public struct MCPSession: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var actor: String
    public var protocolVersion: String
    public var clientName: String?
    public var createdAt: Date
    public var lastSeenAt: Date
}

/// Opens, finds and ends MCP sessions. A session belongs to the caller that opened it (its
/// tenant and actor: the API key or the person), so another key of the same tenant cannot use it.
/// It lapses after `idleLimit` without a request.
public struct MCPSessionStore: Sendable {
    let store: any Store
    let clock: any Clock
    public var idleLimit: TimeInterval

    public init(store: any Store, clock: any Clock, idleLimit: TimeInterval = 24 * 3600) {
        self.store = store
        self.clock = clock
        self.idleLimit = idleLimit
    }

    /// A new session id: 32 random bytes, hex (visible ASCII, as the transport requires).
    static func newID() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }.map { String(format: "%02x", $0) }.joined()
    }

    public static func isWellFormed(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public func open(_ principal: Principal, protocolVersion: String, clientName: String?) async throws -> MCPSession {
        let now = clock.now()
        let session = MCPSession(id: Self.newID(), tenantID: principal.tenantID, actor: principal.actor, protocolVersion: protocolVersion,
                                 clientName: clientName.map { String($0.prefix(200)) }, createdAt: now, lastSeenAt: now)
        let lapsed = now.addingTimeInterval(-idleLimit)
        try await store.transaction { db in
            // The tenant's lapsed sessions go as new ones arrive.
            try await db.delete(from: "mcp_sessions").where("tenant_id", .equal, principal.tenantID).where("last_seen_at", .lessThan, lapsed).run()
            try await db.insert(into: "mcp_sessions")
                .columns("id", "tenant_id", "actor", "protocol_version", "client_name", "created_at", "last_seen_at")
                .values(SQLBind(session.id), SQLBind(session.tenantID), SQLBind(session.actor), SQLBind(session.protocolVersion),
                        SQLBind(session.clientName), SQLBind(now), SQLBind(now))
                .run()
        }
        return session
    }

    /// The caller's live session with this id; nil when there is none (never opened, ended,
    /// lapsed, or another caller's). Marks it used (at most once a minute).
    public func find(_ principal: Principal, id: String) async throws -> MCPSession? {
        guard Self.isWellFormed(id) else { return nil }
        let now = clock.now()
        let row = try await store.read { db in
            try await db.select().columns("id", "tenant_id", "actor", "protocol_version", "client_name", "created_at", "last_seen_at")
                .from("mcp_sessions")
                .where("id", .equal, id).where("tenant_id", .equal, principal.tenantID).where("actor", .equal, principal.actor)
                .where("ended_at", .is, SQLLiteral.null)
                .first()
        }
        guard let row else { return nil }
        let session = MCPSession(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            actor: try row.decode(column: "actor", as: String.self), protocolVersion: try row.decode(column: "protocol_version", as: String.self),
            clientName: try row.decode(column: "client_name", as: String?.self), createdAt: try row.decode(column: "created_at", as: Date.self),
            lastSeenAt: try row.decode(column: "last_seen_at", as: Date.self))
        guard session.lastSeenAt > now.addingTimeInterval(-idleLimit) else { return nil }
        if now.timeIntervalSince(session.lastSeenAt) > 60 {
            try await store.transaction { db in
                try await db.update("mcp_sessions").set("last_seen_at", to: SQLBind(now))
                    .where("id", .equal, id).where("tenant_id", .equal, principal.tenantID).run()
            }
        }
        return session
    }

    /// Ends the caller's session; false when there was no live one.
    public func end(_ principal: Principal, id: String) async throws -> Bool {
        guard try await find(principal, id: id) != nil else { return false }
        let now = clock.now()
        return try await store.transaction { db in
            let rows = try await db.update("mcp_sessions").set("ended_at", to: SQLBind(now))
                .where("id", .equal, id).where("tenant_id", .equal, principal.tenantID).where("ended_at", .is, SQLLiteral.null)
                .returning("id").all()
            return !rows.isEmpty
        }
    }
}
