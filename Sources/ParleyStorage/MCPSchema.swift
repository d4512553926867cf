import Foundation

/// Parley as an MCP client (ParleyMCPClient, docs/mcp.md): each tenant's registry of MCP servers
/// and the record of every tool call made through them.
public enum MCPSchema {
    public static let migrations: [Migration] = [
        Migration("0022_mcp_servers", [
            """
            CREATE TABLE mcp_servers (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                transport TEXT NOT NULL,
                config TEXT NOT NULL,
                secrets_sealed TEXT,
                enabled %BOOL% NOT NULL,
                timeout_ms INTEGER NOT NULL,
                max_output_bytes INTEGER NOT NULL,
                tool_policies TEXT NOT NULL,
                tools TEXT,
                discovered_at %TIMESTAMP%,
                health_status TEXT NOT NULL,
                health_error TEXT,
                health_checked_at %TIMESTAMP%,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                UNIQUE (tenant_id, name)
            )
            """,
            """
            CREATE TABLE mcp_executions (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                server_id TEXT NOT NULL,
                server_name TEXT NOT NULL,
                tool TEXT NOT NULL,
                input TEXT NOT NULL,
                output TEXT NOT NULL,
                output_truncated %BOOL% NOT NULL,
                outcome TEXT NOT NULL,
                duration_ms INTEGER NOT NULL,
                actor TEXT NOT NULL,
                workflow_id TEXT,
                created_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX mcp_executions_tenant ON mcp_executions (tenant_id, id)",
        ]),
    ]
}
