import ParleyStorage

/// The workflow engine's tables: definitions with immutable versions, executions, each step's
/// durable record, and the executions' event log.
public enum FlowSchema {
    public static let migrations: [Migration] = [
        Migration("0023_flows", [
            """
            CREATE TABLE flows (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                current_version INTEGER NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                deleted_at %TIMESTAMP%
            )
            """,
            "CREATE UNIQUE INDEX flows_tenant_name ON flows (tenant_id, name) WHERE deleted_at IS NULL",
            """
            CREATE TABLE flow_versions (
                flow_id TEXT NOT NULL REFERENCES flows(id),
                version INTEGER NOT NULL,
                tenant_id TEXT NOT NULL,
                definition TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                PRIMARY KEY (flow_id, version)
            )
            """,
            """
            CREATE TABLE flow_executions (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                flow_id TEXT NOT NULL REFERENCES flows(id),
                flow_version INTEGER NOT NULL,
                status TEXT NOT NULL,
                input TEXT NOT NULL,
                output TEXT,
                error TEXT,
                principal TEXT NOT NULL,
                parent_execution_id TEXT,
                parent_step TEXT,
                root_id TEXT NOT NULL,
                depth INTEGER NOT NULL DEFAULT 0,
                last_seq INTEGER NOT NULL DEFAULT 0,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                finished_at %TIMESTAMP%
            )
            """,
            "CREATE INDEX flow_executions_tenant ON flow_executions (tenant_id, id)",
            """
            CREATE TABLE flow_steps (
                execution_id TEXT NOT NULL REFERENCES flow_executions(id),
                step_id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                input TEXT,
                output TEXT,
                error TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                approval TEXT,
                handle TEXT,
                wait_until %TIMESTAMP%,
                started_at %TIMESTAMP%,
                finished_at %TIMESTAMP%,
                updated_at %TIMESTAMP% NOT NULL,
                PRIMARY KEY (execution_id, step_id)
            )
            """,
            """
            CREATE TABLE flow_events (
                execution_id TEXT NOT NULL REFERENCES flow_executions(id),
                seq INTEGER NOT NULL,
                tenant_id TEXT NOT NULL,
                type TEXT NOT NULL,
                step_id TEXT,
                data TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                PRIMARY KEY (execution_id, seq)
            )
            """,
        ]),
    ]
}
