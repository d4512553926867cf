import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

/// A synthetic law firm for demos and benchmarks: clients from `SyntheticClients` (including
/// namesakes and near-namesakes), varied document sets and statuses, some email history.
public enum LegalDemo {
    static let documentPool = [
        "W2", "1099", "2023 tax return", "2024 tax return", "Bank statements (last 3 months)", "Photo ID", "Proof of address",
        "Lease agreement", "Medical records", "Police report", "Insurance policy", "Pay stubs", "Divorce decree", "Birth certificate",
        "Employment contract", "Mortgage statement", "Vehicle title", "Settlement letter",
    ]

    static let showcase = [
        SyntheticClient(name: "Robert Smith", email: "robert.smith@example.com", phone: "+15550100101"),
        SyntheticClient(name: "Jane Doe", email: "jane.doe@example.com", phone: "+15550100102"),
    ]

    public struct Report: Sendable, Equatable {
        public var inserted: Int
        public var existing: Int
    }

    /// Loads `count` demo cases (numbered `DEMO-00001`…) into the tenant; cases already there are
    /// kept, so running it again adds nothing.
    public static func seed(store: any Store, clock: any Clock, tenantID: String, count: Int, seed: UInt64 = 2026) async throws -> Report {
        let existing = try await store.read { db in
            try await db.raw("SELECT case_number FROM cases WHERE tenant_id = \(bind: tenantID) AND case_number LIKE 'DEMO-%'").all()
                .map { try $0.decode(column: "case_number", as: String.self) }
        }
        let have = Set(existing)
        // The first clients are the ones the README's first conversation talks about.
        var clients = SyntheticClients.clients(count: count, seed: seed)
        for (i, showcase) in showcase.enumerated() where i < clients.count { clients[i] = showcase }
        let now = clock.now()
        var rng = DemoRandom(seed: seed)
        var rows: [(LegalCase, [RequestedDocument], [ClientCommunication])] = []
        for (i, client) in clients.enumerated() {
            let number = String(format: "DEMO-%05d", i + 1)
            // Consume the same random numbers whether or not the case exists, so re-runs agree.
            let ageDays = rng.below(45)
            let docCount = 1 + rng.below(4)
            var names: [String] = []
            while names.count < docCount {
                let n = documentPool[rng.below(documentPool.count)]
                if !names.contains(n) { names.append(n) }
            }
            let statuses = names.map { _ -> DocumentStatus in
                switch rng.below(10) {
                case 0..<5: .requested
                case 5..<7: .received
                case 7..<9: .accepted
                default: .rejected
                }
            }
            let contacted = rng.below(6) != 0
            // Most firms chase on time: the last email went out in the past few days.
            let contactDaysAgo = min(ageDays, rng.below(4) + (rng.below(5) == 0 ? rng.below(10) : 0))
            let closed = rng.below(12) == 0
            guard !have.contains(number) else { continue }
            let created = now.addingTimeInterval(-Double(ageDays) * 86_400 - Double(i % 3600))
            let progressDays = ageDays == 0 ? 0 : rng.below(ageDays + 1)
            let c = LegalCase(id: UUIDv7.make(at: created), tenantID: tenantID, clientName: client.name, clientEmail: client.email.lowercased(),
                              clientPhone: client.phone, caseNumber: number, status: closed ? .closed : .open,
                              lastProgressAt: created.addingTimeInterval(Double(progressDays) * 86_400),
                              lastContactAt: contacted ? max(created, now.addingTimeInterval(-Double(contactDaysAgo) * 86_400)) : nil,
                              createdAt: created, updatedAt: created)
            let docs = zip(names, statuses).map { name, status in
                RequestedDocument(id: UUIDv7.make(at: created), tenantID: tenantID, caseID: c.id, name: name, description: "Required document: \(name)",
                                  status: status, isCompleted: status == .accepted, completedAt: status == .accepted ? c.lastProgressAt : nil,
                                  notes: status == .rejected ? "Illegible scan; please send a clearer copy" : nil, createdAt: created, updatedAt: created)
            }
            let comms = contacted ? [ClientCommunication(
                id: UUIDv7.make(at: created), tenantID: tenantID, caseID: c.id, channel: "email", recipient: c.clientEmail,
                subject: "Document Request - Case #\(number)", body: "Dear \(client.name),\n\nWe are working on your case and need: \(names.joined(separator: ", ")).",
                emailType: EmailType.initialReminder.rawValue, messageID: nil, sentAt: c.lastContactAt ?? created, deliveryStatus: nil)] : []
            rows.append((c, docs, comms))
        }
        try await insert(rows, store: store)
        return Report(inserted: rows.count, existing: have.count)
    }

    /// Bulk insert in batches (one transaction per batch); the name keys are written with each case.
    static func insert(_ rows: [(LegalCase, [RequestedDocument], [ClientCommunication])], store: any Store, batch: Int = 250) async throws {
        let matcher = CaseService.matcher
        let repo = CaseRepository()
        for start in stride(from: 0, to: rows.count, by: batch) {
            let slice = Array(rows[start..<min(rows.count, start + batch)])
            try await store.transaction { db in
                var caseSQL: SQLQueryString = """
                    INSERT INTO cases (id, tenant_id, client_name, client_email, client_phone, case_number, status, last_progress_at, last_contact_at, created_at, updated_at) VALUES
                    """
                var docSQL: SQLQueryString = """
                    INSERT INTO requested_documents (id, tenant_id, case_id, document_name, description, status, is_completed, completed_at, notes, created_at, updated_at) VALUES
                    """
                var keySQL: SQLQueryString = "INSERT INTO case_name_keys (tenant_id, key, case_id) VALUES "
                var docs = 0
                var keys = 0
                for (i, (c, ds, _)) in slice.enumerated() {
                    if i > 0 { caseSQL += ", " }
                    caseSQL += "(\(bind: c.id), \(bind: c.tenantID), \(bind: c.clientName), \(bind: c.clientEmail), \(bind: c.clientPhone), \(bind: c.caseNumber), \(bind: c.status.rawValue), \(bind: c.lastProgressAt), \(bind: c.lastContactAt), \(bind: c.createdAt), \(bind: c.updatedAt))"
                    for d in ds {
                        if docs > 0 { docSQL += ", " }
                        docs += 1
                        docSQL += "(\(bind: d.id), \(bind: d.tenantID), \(bind: d.caseID), \(bind: d.name), \(bind: d.description), \(bind: d.status.rawValue), \(bind: d.isCompleted), \(bind: d.completedAt), \(bind: d.notes), \(bind: d.createdAt), \(bind: d.updatedAt))"
                    }
                    for key in Set(matcher.indexKeys(for: c.clientName)).sorted() {
                        if keys > 0 { keySQL += ", " }
                        keys += 1
                        keySQL += "(\(bind: c.tenantID), \(bind: key), \(bind: c.id))"
                    }
                }
                try await db.raw(caseSQL).run()
                if docs > 0 { try await db.raw(docSQL).run() }
                if keys > 0 { try await db.raw(keySQL).run() }
                for (_, _, comms) in slice { for comm in comms { try await repo.insert(comm, on: db) } }
            }
        }
    }

    /// Cases for the search benchmark: the synthetic clients, one case each, one document.
    public static func loadForBenchmark(store: any Store, clock: any Clock, tenantID: String, clients: [SyntheticClient]) async throws {
        let now = clock.now()
        let rows = clients.enumerated().map { i, client -> (LegalCase, [RequestedDocument], [ClientCommunication]) in
            let c = LegalCase(id: UUIDv7.make(at: now.addingTimeInterval(Double(i) / 1000)), tenantID: tenantID, clientName: client.name,
                              clientEmail: client.email.lowercased(), clientPhone: client.phone, caseNumber: String(format: "B-%06d", i + 1),
                              status: .open, lastProgressAt: now, lastContactAt: nil, createdAt: now, updatedAt: now)
            let d = RequestedDocument(id: UUIDv7.make(at: now), tenantID: tenantID, caseID: c.id, name: "W2", description: nil, status: .requested,
                                      isCompleted: false, completedAt: nil, notes: nil, createdAt: now, updatedAt: now)
            return (c, [d], [])
        }
        try await insert(rows, store: store)
    }
}

/// The demo firm's numbers: `SplitMix64`, reduced modulo `n` (as the demo has always drawn
/// them, so the same firm appears on every machine).
struct DemoRandom {
    var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}
