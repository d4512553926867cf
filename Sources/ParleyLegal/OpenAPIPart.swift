// Generated from Sources/ParleyLegal/openapi.yaml by scripts/sync-openapi: this pack's part of the OpenAPI document.
enum OpenAPIPart {
    static let yaml = #"""
# The legal pack's part of the OpenAPI document (its tags, paths and schemas, indented as in the
# full document). Edit here, then run scripts/sync-openapi; see docs/packs.md.
tags:
  - name: legal
    description: |
      The legal document-collection pack: cases, the documents requested from each client, the
      emails sent about them and fuzzy client-name search.
  - name: uploads
    description: Clients' upload pages and uploads, reached through signed links without an API key.
paths:
  /v1/cases:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [legal]
      operationId: listCases
      summary: The tenant's cases, newest first. Any role.
      description: |
        Pages back in time like every such list: pass the previous page's `next_cursor` as
        `before`; it is null on the last page.
      security:
        - bearerAuth: []
      parameters:
        - name: status
          in: query
          description: OPEN, CLOSED or ALL (the default). Anything else answers 400 `invalid_status`.
          schema:
            type: string
            enum: [OPEN, CLOSED, ALL]
        - name: limit
          in: query
          description: Cases per page, 1 to 200 (400 `invalid_query` outside).
          schema:
            type: integer
            minimum: 1
            maximum: 200
            default: 50
        - $ref: '#/components/parameters/Before'
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: One page of case summaries (deleted ones, with `deleted_at`, only with `include_deleted=true`).
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/LegalCaseSummary'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
    post:
      tags: [legal]
      operationId: createCase
      summary: Create a case with the documents to request, atomically. Admin, operator or service.
      description: |
        `requested_documents` (or seed 000's `documents_requested`) is an array of names, an array
        of `{document_name, description}` objects, or a comma-separated string ("W2, 1099 and 2023
        tax return"); names are trimmed, whitespace collapsed, duplicates (ignoring case) dropped.
        Missing or empty answers 400 `documents_required`; a blank `client_name` 400
        `invalid_client_name`; an invalid `client_email` 400 `invalid_email`; a `client_phone`
        that is not a phone number with its country code (`+1 555-123-4567`, `0044 20 ...`)
        400 `invalid_phone` (it is stored in E.164, `+15551234567`, as messages store numbers). `case_number` is optional (default `YYYY-NNNNN`; a
        number already used answers 409 `case_number_taken`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [client_name, client_email]
              properties:
                client_name:
                  $ref: '#/components/schemas/LegalClientName'
                client_email:
                  type: string
                  format: email
                  maxLength: 254
                client_phone:
                  $ref: '#/components/schemas/LegalPhone'
                case_number:
                  type: string
                  maxLength: 40
                  pattern: '^[^\r\n]*$'
                  description: At most 40 characters on one line; blank or absent to number it automatically.
                requested_documents:
                  $ref: '#/components/schemas/LegalRequestedDocuments'
                documents_requested:
                  $ref: '#/components/schemas/LegalRequestedDocuments'
              anyOf:
                - required: [requested_documents]
                - required: [documents_requested]
      responses:
        '201':
          description: The case with its documents.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/LegalCase'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`case_number_taken`: the case number is already used.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
  /v1/cases/search:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [legal]
      operationId: searchCases
      summary: Find cases by client name, tolerant of typos, nicknames, word order, initials and accents. Any role.
      description: |
        Candidates come from a name-key index in the database (the same SQL on SQLite and
        PostgreSQL), are scored from 0 to 1 and filtered by `fuzzy_threshold` and `status`
        (default OPEN; ALL for any), best first, at most `limit`. `total_found` counts every
        match above the threshold. With `use_fuzzy_matching: false` a case matches when every word
        of the query is a word of its client's name (score 1). A blank or longer than 200
        characters `client_name` answers 400 `invalid_client_name`; a threshold outside 0 to 1 400
        `invalid_threshold`; a limit outside 1 to 100 400 `invalid_limit`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [client_name]
              properties:
                client_name:
                  type: string
                  minLength: 1
                  maxLength: 200
                  pattern: '\S'
                  description: 1 to 200 characters, not only spaces.
                use_fuzzy_matching:
                  type: boolean
                  default: true
                fuzzy_threshold:
                  type: number
                  minimum: 0
                  maximum: 1
                  default: 0.3
                limit:
                  type: integer
                  minimum: 1
                  maximum: 100
                  default: 50
                status:
                  type: string
                  enum: [OPEN, CLOSED, ALL]
                  default: OPEN
      responses:
        '200':
          description: Matches, best first.
          content:
            application/json:
              schema:
                type: object
                properties:
                  cases:
                    type: array
                    items:
                      $ref: '#/components/schemas/LegalCaseSummary'
                  total_found:
                    type: integer
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
  /v1/cases/pending-reminders:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [legal]
      operationId: listPendingReminders
      summary: Open cases with outstanding documents that are due a reminder now. Any role.
      description: |
        Never contacted: `initial_reminder`. Otherwise due when there has been no progress (an
        upload or a document accepted or received) and no reminder for
        `PARLEY_LEGAL_FOLLOW_UP_DAYS`: `follow_up_reminder`, or `urgent_reminder` after
        `PARLEY_LEGAL_URGENT_DAYS` without progress. The daily trigger `legal.document_reminders`
        sends exactly these.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The cases due a reminder.
          content:
            application/json:
              schema:
                type: object
                properties:
                  cases:
                    type: array
                    items:
                      type: object
                  total:
                    type: integer
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
  /v1/cases/{case_id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: case_id
        in: path
        required: true
        description: The case's id, a UUIDv7; any other value answers 404.
        schema:
          type: string
          format: uuid
    get:
      tags: [legal]
      operationId: getCase
      summary: A case with its requested documents, communications and uploads. Any role.
      description: |
        Another tenant's case, or an id that is not a case id, answers 404 `case_not_found`; a
        deleted case 404 `case_deleted` naming the date until which it can be restored, unless
        `include_deleted=true`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The case.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/LegalCase'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    patch:
      tags: [legal]
      operationId: updateCase
      summary: Change the client's contact details (client_name, client_email, client_phone). Admin, operator or service.
      description: A renamed client is re-indexed for search in the same transaction. An empty body answers 400 `empty_update`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              minProperties: 1
              properties:
                client_name:
                  $ref: '#/components/schemas/LegalClientName'
                client_email:
                  type: string
                  format: email
                  maxLength: 254
                client_phone:
                  oneOf:
                    - $ref: '#/components/schemas/LegalPhone'
                    - type: 'null'
      responses:
        '200':
          description: The updated case.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/LegalCase'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
    delete:
      tags: [legal]
      operationId: deleteCase
      summary: Soft-delete a case. Admin or operator.
      description: The case leaves lists, search, reminders, the assistant's tools and its upload link; `POST /v1/cases/{case_id}/restore` brings it back within `PARLEY_RETENTION_DAYS`, after which it is purged with its documents, communications and uploads' rows. Its case number stays taken until then. Audited (`case.delete`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The case, with `deleted_at`.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/LegalCase'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/cases/{case_id}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: case_id
        in: path
        required: true
        description: The case's id, a UUIDv7; any other value answers 404.
        schema:
          type: string
          format: uuid
    post:
      tags: [legal]
      operationId: restoreCase
      summary: Restore a deleted case within the retention period. Admin or operator.
      description: Audited (`case.restore`). Restoring a live case returns it unchanged.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The case.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/LegalCase'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`case_not_found` (also once purged), `restore_window_passed`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/cases/{case_id}/close:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: case_id
        in: path
        required: true
        description: The case's id, a UUIDv7; any other value answers 404.
        schema:
          type: string
          format: uuid
    post:
      tags: [legal]
      operationId: closeCase
      summary: Close a case; it gets no more reminders and its upload link stops working. Admin, operator or service.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The closed case.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/LegalCase'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
  /v1/cases/{case_id}/reminder-preview:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: case_id
        in: path
        required: true
        description: The case's id, a UUIDv7; any other value answers 404.
        schema:
          type: string
          format: uuid
    get:
      tags: [legal]
      operationId: previewCaseReminder
      summary: The reminder email exactly as `POST /v1/send-email` would write it now, without sending. Any role.
      description: |
        The tenant's template `legal.<email_type>` filled with the case's outstanding documents
        and its upload link: what a person confirms before sending. 409 `nothing_outstanding`
        when no document is outstanding.
      security:
        - bearerAuth: []
      parameters:
        - name: email_type
          in: query
          required: true
          schema:
            type: string
            enum: [initial_reminder, follow_up_reminder, urgent_reminder]
      responses:
        '200':
          description: The email.
          content:
            application/json:
              schema:
                type: object
                required: [case_id, email_type, recipient, subject, body, html, upload_url, documents]
                properties:
                  case_id: {type: string}
                  email_type: {type: string, enum: [initial_reminder, follow_up_reminder, urgent_reminder]}
                  recipient: {type: string, description: The client's address on record.}
                  subject: {type: string}
                  body: {type: string, description: The plain-text body.}
                  html: {type: [string, 'null'], description: 'The HTML alternative sent with it, when the template has one.'}
                  upload_url: {type: string}
                  documents:
                    type: array
                    items: {type: string}
                    description: The outstanding documents it lists.
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_email_type`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '409':
          description: '`nothing_outstanding`.'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
  /v1/cases/{case_id}/upload-link:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: case_id
        in: path
        required: true
        description: The case's id, a UUIDv7; any other value answers 404.
        schema:
          type: string
          format: uuid
    post:
      tags: [legal]
      operationId: createUploadLink
      summary: A signed link where the client uploads this case's documents without an API key. Admin, operator or service.
      description: |
        The link carries the tenant, the case and an expiry (`PARLEY_UPLOAD_LINK_DAYS`, counted
        from the start of today UTC, so it is stable for a day) signed with the installation key.
        It points at `PARLEY_PUBLIC_URL` (default `http://HOST:PORT`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The link.
          content:
            application/json:
              schema:
                type: object
                properties:
                  url:
                    type: string
                  expires_at:
                    type: string
                    format: date-time
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
  /v1/cases/documents/{requested_doc_id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: requested_doc_id
        in: path
        required: true
        description: The requested document's id, a UUIDv7; any other value answers 404.
        schema:
          type: string
          format: uuid
    put:
      tags: [legal]
      operationId: updateRequestedDocument
      summary: Set a requested document's status, completion and notes. Admin, operator or service.
      description: |
        `status` is requested, received, accepted or rejected (400 `invalid_status`);
        `is_completed` is true exactly when the status is accepted (`is_completed: true` alone
        accepts the document; `false` on an accepted one makes it received; contradicting the
        status answers 400 `inconsistent_status`). Another tenant's document answers 404
        `document_not_found`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              minProperties: 1
              properties:
                status:
                  type: string
                  enum: [requested, received, accepted, rejected]
                is_completed:
                  type: boolean
                notes:
                  type: string
      responses:
        '200':
          description: The document.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/RequestedDocument'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
  /v1/send-email:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [legal]
      operationId: sendCaseEmail
      summary: Email a case's client (seed 000's send-email) through the communications engine. Admin, operator or service.
      description: |
        `recipient_email` must be the case's address on record (compared case-insensitively);
        any other answers 422 `recipient_not_on_record`. Without `subject` or `body` the
        tenant's template `legal.<email_type>` writes them, listing exactly the outstanding
        documents and the upload link (409 `nothing_outstanding` when there are none). The
        message and its `client_communications` row commit together. One email per case, type
        and day in the tenant's zone: the same request again answers 200 with the first; a
        different email of the same type that day answers 409 `already_sent_today`. A closed case
        answers 409 `case_closed`. 202 when queued.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [case_id, recipient_email, email_type]
              properties:
                case_id:
                  type: string
                recipient_email:
                  type: string
                email_type:
                  type: string
                  enum: [initial_reminder, follow_up_reminder, urgent_reminder]
                subject:
                  type: string
                body:
                  type: string
                send_at:
                  type: string
                  format: date-time
                  description: |
                    Send later (ISO 8601); omitted sends now. Within the next 12 months, else 400
                    `invalid_send_at`; a past time answers 400 `send_at_in_past`. Quiet hours may
                    still move it (the message's `waiting_reason` says so). "One per day" counts
                    the day it is due.
      responses:
        '200':
          description: Already sent today; the first communication.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ClientCommunication'
        '202':
          description: Queued.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ClientCommunication'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`nothing_outstanding` (no document is still expected), `case_closed`, `already_sent_today` (a reminder of this type already went out that day with other content), `recipient_opted_out`, `recipient_suppressed`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '422':
          description: The recipient is not the client's address on record.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
  /upload/{token}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: token
        in: path
        required: true
        schema:
          type: string
    get:
      tags: [uploads]
      operationId: uploadPage
      summary: The client's upload page (HTML, no API key; the signed link is the credential).
      description: |
        Lists the case's documents and which are still needed, with a file picker for each. The
        page is self-contained (no external assets) under a strict Content-Security-Policy. An
        invalid or tampered link answers 403 `upload_link_invalid`, an expired one 403
        `upload_link_expired`, a closed case 403 `case_closed`.
      responses:
        '200':
          description: The page.
          content:
            text/html: {}
        '400':
          $ref: '#/components/responses/BadRequest'
        '403':
          $ref: '#/components/responses/Forbidden'
  /upload/{token}/documents/{requested_doc_id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: token
        in: path
        required: true
        schema:
          type: string
      - name: requested_doc_id
        in: path
        required: true
        description: The requested document's id, a UUIDv7; any other value answers 404.
        schema:
          type: string
          format: uuid
    put:
      tags: [uploads]
      operationId: uploadDocument
      summary: Upload one file for one of the link's case documents (raw body, name in X-File-Name).
      description: |
        The body is the file; `X-File-Name` (percent-encoded allowed) its name (400
        `invalid_file_name` without one). Allowed: pdf, png, jpeg, heic, docx, xlsx, txt, by
        extension and by the file's first bytes (415 `file_type_not_allowed`); at most
        `PARLEY_UPLOAD_MAX_BYTES` (413). Stored under `PARLEY_UPLOAD_DIR/<tenant>/<case>/` with its
        SHA-256; the document becomes `received`. A document of another case answers 404
        `document_not_found`; link errors as for the page.
      parameters:
        - name: X-File-Name
          in: header
          required: true
          schema:
            type: string
      requestBody:
        required: true
        content:
          application/octet-stream: {}
      responses:
        '201':
          description: Stored.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/CaseUpload'
        '400':
          $ref: '#/components/responses/BadRequest'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`document_already_accepted`: nothing more is needed for that document.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
schemas:
    LegalClientName:
      type: string
      minLength: 1
      maxLength: 200
      pattern: '^[^\r\n]*\S[^\r\n]*$'
      description: The client's name, 1 to 200 characters on one line, not only spaces.
    LegalRequestedDocuments:
      description: Document names, `{document_name, description}` objects, or one comma-separated string.
      oneOf:
        - type: string
          pattern: '[A-Za-z0-9]'
        - type: array
          minItems: 1
          items:
            oneOf:
              - type: string
                pattern: '[A-Za-z0-9]'
              - type: object
                additionalProperties: false
                required: [document_name]
                properties:
                  document_name:
                    type: string
                    pattern: '[A-Za-z0-9]'
                  description:
                    type: [string, 'null']
    LegalPhone:
      type: string
      pattern: '^\s*(\+|00)[0-9][0-9 ().-]*$'
      description: |
        With its country code, e.g. `+1 555-123-4567` (spaces, dashes, dots and parentheses
        allowed); stored as E.164. Blank means none. Numbers without a country code answer 400
        `invalid_phone`.
    LegalCaseSummary:
      type: object
      properties:
        case_id:
          type: string
        client_name:
          type: string
        client_email:
          type: string
        client_phone:
          type: [string, 'null']
        case_number:
          type: string
        status:
          type: string
          enum: [OPEN, CLOSED]
        match_score:
          type: number
          description: Search results only, 0 to 1.
        outstanding_documents:
          type: integer
          description: Documents still expected from the client (requested or rejected).
        created_at:
          type: string
          format: date-time
        updated_at:
          type: string
          format: date-time
        deleted_at:
          type: string
          format: date-time
          description: Only on a deleted case (listed or read with `include_deleted=true`).
    LegalCase:
      type: object
      properties:
        case_id:
          type: string
        client_name:
          type: string
        client_email:
          type: string
        client_phone:
          type: [string, 'null']
        case_number:
          type: string
        status:
          type: string
        created_at:
          type: string
          format: date-time
        updated_at:
          type: string
          format: date-time
        deleted_at:
          type: string
          format: date-time
          description: Only on a deleted case (listed or read with `include_deleted=true`).
        requested_documents:
          type: array
          items:
            $ref: '#/components/schemas/RequestedDocument'
        communications:
          type: array
          items:
            $ref: '#/components/schemas/ClientCommunication'
        uploads:
          type: array
          items:
            $ref: '#/components/schemas/CaseUpload'
    RequestedDocument:
      type: object
      properties:
        requested_doc_id:
          type: string
        case_id:
          type: string
        document_name:
          type: string
        description:
          type: [string, 'null']
        status:
          type: string
          enum: [requested, received, accepted, rejected]
        is_completed:
          type: boolean
        completed_at:
          type: [string, 'null']
          format: date-time
        notes:
          type: [string, 'null']
    ClientCommunication:
      type: object
      properties:
        communication_id:
          type: string
        channel:
          type: string
        recipient:
          type: string
        subject:
          type: [string, 'null']
        body:
          type: string
        email_type:
          type: string
        message_id:
          type: [string, 'null']
          description: The message in the communications engine (GET /v1/messages/{id}).
        sent_at:
          type: string
          format: date-time
        delivery_status:
          type: [string, 'null']
          description: The message's status (queued, sending, sent, failed, cancelled).
    CaseUpload:
      type: object
      properties:
        upload_id:
          type: string
        requested_doc_id:
          type: string
        file_name:
          type: string
        content_type:
          type: string
        size_bytes:
          type: integer
        sha256:
          type: string
        uploaded_at:
          type: string
          format: date-time
"""#
}
