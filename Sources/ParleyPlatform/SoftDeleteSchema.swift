import ParleyStorage

/// Soft delete for the core's tables that did not have it yet (docs/soft-delete.md): API keys and
/// template overrides. Agents, conversations (`agent_sessions`) and memberships have their
/// `deleted_at` from their own migrations; packs add theirs with their own prefix.
public enum SoftDeleteSchema {
    public static let migrations: [Migration] = [
        Migration("0021_soft_delete", [
            "ALTER TABLE api_keys ADD COLUMN deleted_at %TIMESTAMP%",
            "ALTER TABLE message_templates ADD COLUMN deleted_at %TIMESTAMP%",
            // A key revoked before soft delete existed is a deleted key from its revocation on.
            "UPDATE api_keys SET deleted_at = revoked_at WHERE revoked_at IS NOT NULL",
            // The purge looks for old deletions; most rows have none.
            "CREATE INDEX api_keys_deleted ON api_keys (deleted_at) WHERE deleted_at IS NOT NULL",
            "CREATE INDEX message_templates_deleted ON message_templates (deleted_at) WHERE deleted_at IS NOT NULL",
            "CREATE INDEX agents_deleted ON agents (deleted_at) WHERE deleted_at IS NOT NULL",
            "CREATE INDEX agent_sessions_deleted ON agent_sessions (deleted_at) WHERE deleted_at IS NOT NULL",
            "CREATE INDEX memberships_deleted ON memberships (deleted_at) WHERE deleted_at IS NOT NULL",
        ]),
    ]
}
