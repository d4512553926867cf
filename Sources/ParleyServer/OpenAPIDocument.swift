// Generated from docs/openapi.yaml by scripts/sync-openapi; a test fails when the two differ.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: Parley API
  version: 0.1.0
  summary: Self-hosted AI communications agent server.
  description: |
    Conventions that hold on every route:

    - JSON bodies use snake_case field names. Optional fields that have no value are omitted,
      never sent as null.
    - Timestamps are ISO 8601 in UTC with milliseconds, e.g. `2026-01-31T09:00:00.000Z`.
      Request timestamps may omit the fractional seconds.
    - Every response carries `X-Request-ID`: the client's own value when it sent a usable one
      (1 to 128 visible ASCII characters, no spaces), otherwise a new UUIDv7.
    - Every failure answers with the error envelope (`Error`) and a matching status, except
      `/ready` and `/`, which answer 503 with their own status JSON.
    - Routes under `/v1` need `Authorization: Bearer <api key>`; the key fixes the tenant and
      the role (admin, operator, viewer, service). Everything a `/v1` route reads or changes
      belongs to the key's tenant.
    - Any path below with a method it does not list answers 405 `method_not_allowed` with an
      `Allow` header; a path that is not below answers 404 `route_not_found`. Neither needs
      authentication.
    - A request whose `Content-Length` exceeds `PARLEY_MAX_BODY_BYTES` (default 1 MiB) answers
      413 `payload_too_large` on any route.
    - List responses are `{"data": [...], "next_cursor": "..."}`; `next_cursor` is omitted
      when there is no further page.
servers:
  - url: http://127.0.0.1:8080
    description: The default address of `parley serve`.
tags:
  - name: operations
    description: Health, readiness, status, metrics and this document. No authentication.
  - name: tenant
  - name: api-keys
  - name: audit
security: []
paths:
  /health:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getHealth
      summary: Liveness. Answers as long as the process serves HTTP; does not touch the database.
      responses:
        '200':
          description: The process is alive.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Health'
  /ready:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getReady
      summary: Readiness. The database answers and every migration this binary knows is applied.
      responses:
        '200':
          description: Ready to serve traffic.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Ready'
              example:
                status: ready
        '503':
          description: Not ready; `reason` says why (database unreachable, migrations pending).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Ready'
              example:
                status: unavailable
                reason: 'migrations pending: 0001_tenants_keys_audit'
  /status:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getStatus
      summary: Service name and version (seed 000 compatible).
      responses:
        '200':
          description: The server is running.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Status'
              example:
                status: running
                service: parley
                version: 0.1.0
  /:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getRoot
      summary: Health JSON with a database check (seed 000 compatible).
      responses:
        '200':
          description: The database answers.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/RootStatus'
              example:
                status: operational
                database: connected
        '503':
          description: The database does not answer.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/RootStatus'
              example:
                status: degraded
                database: unavailable
  /metrics:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getMetrics
      summary: Prometheus metrics.
      description: |
        Prometheus text exposition format. Includes `parley_http_requests_total` (labels method,
        route, status), `parley_http_request_duration_seconds` (histogram; labels method, route),
        `process_cpu_seconds_total`, `process_resident_memory_bytes`,
        `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
        `process_start_time_seconds`, and `parley_db_pool_connections_in_use` /
        `parley_db_pool_connections_max` (label database: sqlite or postgres). The route label
        is the route pattern, e.g. `/v1/api-keys/{id}`.
      responses:
        '200':
          description: Current metrics.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/plain; version=0.0.4; charset=utf-8:
              schema:
                type: string
  /openapi.yaml:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getOpenAPI
      summary: This document.
      responses:
        '200':
          description: The OpenAPI document, identical to docs/openapi.yaml.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/yaml; charset=utf-8:
              schema:
                type: string
  /v1/tenant:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [tenant]
      operationId: getTenant
      summary: The caller's tenant. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The tenant the API key belongs to.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Tenant'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/api-keys:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [api-keys]
      operationId: listAPIKeys
      summary: All of the tenant's API keys, including revoked and expired ones. Admin only.
      description: |
        Oldest first. Secrets are never listed. Not paginated: the whole list comes in one page
        and `next_cursor` is never present.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The tenant's keys.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/APIKeyList'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    post:
      tags: [api-keys]
      operationId: createAPIKey
      summary: Create an API key in the caller's tenant. Admin only.
      description: |
        The response is the only place the key's `secret` ever appears; store it then. An
        `api_key.create` row is written to the audit log in the same transaction.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/CreateAPIKeyRequest'
            example:
              name: ci pipeline
              role: service
              expires_at: '2027-01-01T00:00:00Z'
      responses:
        '201':
          description: The new key, with its secret.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/APIKey'
              example:
                id: 019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01
                tenant_id: 019b2f6e-0000-7abc-8def-0123456789ab
                name: ci pipeline
                role: service
                prefix: prk_7Hq2LmN9xR4s
                created_at: '2026-01-31T09:00:00.000Z'
                expires_at: '2027-01-01T00:00:00.000Z'
                secret: prk_7Hq2LmN9xR4sVb8KdT1wYz3PqJ6uE0aFgHcXnM5oLiS
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/api-keys/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        description: The key's id.
        schema:
          type: string
    delete:
      tags: [api-keys]
      operationId: revokeAPIKey
      summary: Revoke an API key. Admin only.
      description: |
        Requests using the key answer 401 `api_key_revoked` from then on. Revoking a key that is
        already revoked changes nothing and returns it as it is. The first revocation writes an
        `api_key.revoke` audit row in the same transaction.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The revoked key (no secret).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/APIKey'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/audit-log:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [audit]
      operationId: listAuditLog
      summary: The tenant's audit log, newest first. Admin only.
      description: |
        To page, pass the previous page's `next_cursor` as `before`. `next_cursor` is present
        whenever the page is full (`limit` entries), so the last page may come back empty.
      security:
        - bearerAuth: []
      parameters:
        - name: limit
          in: query
          description: Entries per page. Outside 1 to 500 answers 400 `invalid_query`.
          schema:
            type: integer
            minimum: 1
            maximum: 500
            default: 50
        - name: before
          in: query
          description: Only entries older than this entry id (the `next_cursor` of the previous page).
          schema:
            type: string
        - name: action
          in: query
          description: Only entries with exactly this action, e.g. `api_key.create`.
          schema:
            type: string
            examples: [tenant.create, api_key.create, api_key.revoke]
      responses:
        '200':
          description: One page of entries.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/AuditLogPage'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
components:
  securitySchemes:
    bearerAuth:
      type: http
      scheme: bearer
      description: |
        An API key: `prk_` followed by 43 base62 characters, or the value of PARLEY_ADMIN_KEY
        for the first-start admin key. Created by `POST /v1/api-keys`, `parley apikey create`
        or the first start of `parley serve`.
  parameters:
    RequestID:
      name: X-Request-ID
      in: header
      required: false
      description: |
        Correlation id, echoed on the response and on every log line of the request. Used when
        it is 1 to 128 visible ASCII characters without spaces; otherwise a UUIDv7 is generated.
      schema:
        type: string
        maxLength: 128
  headers:
    X-Request-ID:
      description: The request's id; the same value as `error.request_id` in an error body.
      schema:
        type: string
    WWW-Authenticate:
      description: Always `Bearer` on a 401.
      schema:
        type: string
        const: Bearer
    Allow:
      description: The methods the path accepts, comma-separated, e.g. `GET, POST`.
      schema:
        type: string
  schemas:
    Error:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [code, message, request_id]
          properties:
            code:
              type: string
              description: Stable, machine-readable; clients branch on this.
              examples: [invalid_json, missing_api_key, forbidden, database_unavailable]
            message:
              type: string
              description: For people; may change between versions.
            request_id:
              type: string
              description: The request's id, also in the `X-Request-ID` response header.
      example:
        error:
          code: invalid_json
          message: missing field 'role'
          request_id: 019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01
    Timestamp:
      type: string
      format: date-time
      description: ISO 8601 in UTC with milliseconds.
      examples: ['2026-01-31T09:00:00.000Z']
    Role:
      type: string
      enum: [admin, operator, viewer, service]
      description: |
        admin: everything, including API keys and the audit log. operator: read the tenant,
        use the product and operate work done by others. viewer: read the tenant. service:
        read the tenant and use the product.
    Health:
      type: object
      required: [status]
      properties:
        status:
          type: string
          const: ok
    Ready:
      type: object
      required: [status]
      properties:
        status:
          type: string
          enum: [ready, unavailable]
        reason:
          type: string
          description: Present when `status` is `unavailable`.
    Status:
      type: object
      required: [status, service, version]
      properties:
        status:
          type: string
          const: running
        service:
          type: string
          const: parley
        version:
          type: string
    RootStatus:
      type: object
      required: [status, database]
      properties:
        status:
          type: string
          enum: [operational, degraded]
        database:
          type: string
          enum: [connected, unavailable]
    Tenant:
      type: object
      required: [id, name, slug, time_zone, created_at]
      properties:
        id:
          type: string
          description: UUIDv7.
        name:
          type: string
        slug:
          type: string
          description: 1 to 64 characters of a-z, 0-9 and '-'.
        time_zone:
          type: string
          description: IANA time zone, e.g. Europe/Paris.
        created_at:
          $ref: '#/components/schemas/Timestamp'
      example:
        id: 019b2f6e-0000-7abc-8def-0123456789ab
        name: Default
        slug: default
        time_zone: UTC
        created_at: '2026-01-31T09:00:00.000Z'
    APIKey:
      type: object
      required: [id, tenant_id, name, role, prefix, created_at]
      properties:
        id:
          type: string
          description: UUIDv7.
        tenant_id:
          type: string
        name:
          type: string
        role:
          $ref: '#/components/schemas/Role'
        prefix:
          type: string
          description: The first 16 characters of the secret, to recognise a key.
        created_at:
          $ref: '#/components/schemas/Timestamp'
        expires_at:
          $ref: '#/components/schemas/Timestamp'
        revoked_at:
          $ref: '#/components/schemas/Timestamp'
        last_used_at:
          allOf:
            - $ref: '#/components/schemas/Timestamp'
          description: Last successful authentication, refreshed at most once a minute.
        secret:
          type: string
          description: The key itself. Only in the response that creates the key.
    CreateAPIKeyRequest:
      type: object
      required: [name, role]
      properties:
        name:
          type: string
          description: 1 to 200 characters after trimming whitespace; otherwise 400 `invalid_name`.
        role:
          type: string
          enum: [admin, operator, viewer, service]
          description: Any other value answers 400 `invalid_role`.
        expires_at:
          type: string
          format: date-time
          description: |
            Optional; the key never expires without it. Must be in the future, otherwise 400
            `invalid_expires_at`. Fractional seconds are optional.
    APIKeyList:
      type: object
      required: [data]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/APIKey'
        next_cursor:
          type: string
          description: Never present on this list.
    AuditEntry:
      type: object
      required: [id, tenant_id, actor, action, target_type, created_at]
      properties:
        id:
          type: string
          description: UUIDv7; entries sort by id in time order.
        tenant_id:
          type: string
        actor:
          type: string
          description: '`api_key:<key id>` for API calls, `cli` for the command line, `system` for first-start setup.'
        action:
          type: string
          examples: [tenant.create, api_key.create, api_key.revoke]
        target_type:
          type: string
          examples: [tenant, api_key]
        target_id:
          type: string
        request_id:
          type: string
          description: The `X-Request-ID` of the request that made the change (absent for the CLI).
        details:
          type: string
          examples: [role=admin]
        created_at:
          $ref: '#/components/schemas/Timestamp'
    AuditLogPage:
      type: object
      required: [data]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/AuditEntry'
        next_cursor:
          type: string
          description: Pass as `before` to get the next page; omitted when the page is not full.
  responses:
    BadRequest:
      description: |
        The request is malformed. Codes: `invalid_json` (body empty, not JSON, a field missing
        or of the wrong type), `invalid_request`, and per route `invalid_name`, `invalid_role`,
        `invalid_expires_at`, `invalid_query`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    Unauthorized:
      description: |
        No usable API key. Codes: `missing_api_key`, `invalid_authorization` (not
        `Bearer <key>`), `invalid_api_key`, `api_key_revoked`, `api_key_expired`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
        WWW-Authenticate:
          $ref: '#/components/headers/WWW-Authenticate'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    Forbidden:
      description: The key's role may not do this. Code `forbidden`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    NotFound:
      description: |
        Not found in the caller's tenant. Codes: `api_key_not_found`; `route_not_found` for a
        path the server does not have.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    MethodNotAllowed:
      description: The path exists but not with this method. Code `method_not_allowed`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
        Allow:
          $ref: '#/components/headers/Allow'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    PayloadTooLarge:
      description: The body is larger than PARLEY_MAX_BODY_BYTES. Code `payload_too_large`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    UnsupportedMediaType:
      description: The body is not sent as `application/json` (or `*+json`). Code `unsupported_media_type`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    InternalError:
      description: An unexpected failure, logged with the request id. Code `internal_error`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    DatabaseUnavailable:
      description: The database cannot be reached or stays busy past its timeout; retry shortly. Code `database_unavailable`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
"""#
}
