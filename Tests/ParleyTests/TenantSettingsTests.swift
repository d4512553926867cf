import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyPlatform
import ParleyStorage
import Testing

/// `PATCH /v1/tenant`: name and zone changes, who may make them, and schedules following the zone.
@Suite struct TenantSettingsTests {
    let iso = Date.ISO8601FormatStyle()

    func patch(_ client: some TestClientProtocol, _ key: String, _ body: String) async throws -> (HTTPResponse.Status, JSONValue) {
        try await client.execute(uri: "/v1/tenant", method: .patch, headers: auth(key, json: true), body: ByteBuffer(string: body)) { r in
            (r.status, try JSONValue.parse(String(buffer: r.body)))
        }
    }

    @Test(arguments: TestEnv.kinds)
    func anAdminRenamesTheTenantAndMovesItsZoneAndItsSchedulesFollow(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            // The seeded tenant is in Europe/Paris; the clock reads 2027-01-15 09:00 there.
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let scheduler = Scheduler(store: store, clock: clock, triggers: ["noop": { _ in }], logger: logger)
            let nine = try #require(LocalTime(parsing: "09:00"))
            let daily = try await scheduler.upsert(tenantID: seeded.tenant.id, name: "morning", trigger: "noop", schedule: .daily(at: nine))
            #expect(daily.nextRunAt == (try iso.parse("2027-01-16T09:00:00+01:00")))
            let interval = try await scheduler.upsert(tenantID: seeded.tenant.id, name: "poll", trigger: "noop", schedule: .every(seconds: 600))

            let (status, body) = try await patch(client, seeded.adminKey, #"{"name":"  Smith & Jones LLP ","time_zone":"America/Chicago"}"#)
            #expect(status == .ok)
            #expect(body["name"] == "Smith & Jones LLP" && body["time_zone"] == "America/Chicago" && body["slug"] == "acme")
            let read = try await client.getJSON(seeded.adminKey, "/v1/tenant")
            #expect(read["name"] == "Smith & Jones LLP" && read["time_zone"] == "America/Chicago")

            // 09:00 in Chicago (UTC-6) is still ahead today; the interval task is left alone.
            let tasks = try await scheduler.tasks(tenantID: seeded.tenant.id)
            #expect(tasks.first { $0.name == "morning" }?.nextRunAt == (try iso.parse("2027-01-15T09:00:00-06:00")))
            #expect(tasks.first { $0.name == "poll" }?.nextRunAt == interval.nextRunAt)

            // Only the name: the zone stays; the same values again change nothing and are not audited twice.
            #expect(try await patch(client, seeded.adminKey, #"{"name":"Smith Jones"}"#).1["time_zone"] == "America/Chicago")
            #expect(try await patch(client, seeded.adminKey, #"{"name":"Smith Jones","time_zone":"America/Chicago"}"#).0 == .ok)
            let audit = try await client.getJSON(seeded.adminKey, "/v1/audit-log?action=tenant.update")
            let entries = audit["data"]?.arrayValue ?? []
            #expect(entries.count == 2)
            let details = try JSONValue.parse(entries.last?["details"]?.stringValue ?? "{}")
            #expect(details["previous_time_zone"] == "Europe/Paris" && details["time_zone"] == "America/Chicago")
        }
    }

    /// Without the server: the scheduler fires at the local time of the zone the tenant moved to.
    @Test(arguments: TestEnv.kinds)
    func aMovedTenantsTasksFireAtTheirLocalTimeInTheNewZone(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            let fired = FiredOccurrences()
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let scheduler = Scheduler(store: store, clock: clock, triggers: ["noop": { fired.add($0.taskName, $0.scheduledFor) }], logger: logger)
            let eight = try #require(LocalTime(parsing: "08:00"))
            _ = try await scheduler.upsert(tenantID: seeded.tenant.id, name: "weekly", trigger: "noop", schedule: .weekly(weekday: 6, at: eight))
            // 2027-01-15 is a Friday (6); 08:00 has passed in Paris (09:00), so next Friday there...
            #expect(try await scheduler.tasks(tenantID: seeded.tenant.id).first?.nextRunAt == (try iso.parse("2027-01-22T08:00:00+01:00")))
            let ctx = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
            let moved = try await TenantService(store: store, clock: clock).changeSettings(ctx, .init(timeZone: "America/New_York"))
            #expect(moved.timeZone == "America/New_York")
            // ...but it is 03:00 in New York: today at 08:00 there.
            let newYorkEight = try iso.parse("2027-01-15T08:00:00-05:00")
            #expect(try await scheduler.tasks(tenantID: seeded.tenant.id).first?.nextRunAt == newYorkEight)
            clock.advance(by: newYorkEight.timeIntervalSince(clock.now()) - 1)
            #expect(try await scheduler.tick() == 0)
            clock.advance(by: 1)
            #expect(try await scheduler.tick() == 1 && fired.count == 1)
            #expect(try await scheduler.tasks(tenantID: seeded.tenant.id).first?.nextRunAt == (try iso.parse("2027-01-22T08:00:00-05:00")))
            // A viewer's context is refused by the service too, and nothing moves.
            let viewer = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .viewer, actor: "test"), requestID: nil)
            await #expect(throws: ParleyError.self) { try await TenantService(store: store, clock: clock).changeSettings(viewer, .init(timeZone: "UTC")) }
            #expect(try await TenantService(store: store, clock: clock).get(seeded.tenant.id).timeZone == "America/New_York")
        }
    }

    @Test(arguments: TestEnv.kinds)
    func badChangesAnswerTypedErrorsAndChangeNothing(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let admin = seeded.adminKey
            let cases: [(String, HTTPResponse.Status, String)] = [
                (#"{"time_zone":"Mars/Olympus_Mons"}"#, .badRequest, "invalid_time_zone"),
                (#"{"time_zone":"EST"}"#, .badRequest, "invalid_time_zone"),
                (#"{"time_zone":""}"#, .badRequest, "invalid_time_zone"),
                (#"{"name":"   "}"#, .badRequest, "invalid_name"),
                (#"{"name":""}"#, .badRequest, "invalid_name"),
                (#"{"name":"a\nb"}"#, .badRequest, "invalid_name"),
                (#"{"name":42}"#, .badRequest, "invalid_name"),
                (#"{}"#, .badRequest, "empty_update"),
                (#"[1]"#, .badRequest, "invalid_json"),
                (#"{"name":"#, .badRequest, "invalid_json"),
            ]
            for (body, status, code) in cases {
                let (got, json) = try await patch(client, admin, body)
                #expect(got == status && json["error"]?["code"]?.stringValue == code, "\(body): \(json.serialized())")
                #expect(json["error"]?["message"]?.stringValue?.isEmpty == false)
            }
            let zone = try await patch(client, admin, #"{"time_zone":"Mars/Olympus_Mons"}"#).1
            #expect(zone["error"]?["message"]?.stringValue?.contains("America/Chicago") == true, "the message says what a zone looks like")

            // Roles other than admin are refused before the body is looked at.
            for role in [Role.viewer, .operator, .service] {
                let key = try #require(try await seeded.key(store, clock: clock, role: role).secret)
                let (got, json) = try await patch(client, key, #"{"time_zone":"nope"}"#)
                #expect(got == .forbidden && json["error"]?["code"] == "forbidden")
                #expect(json["error"]?["message"]?.stringValue?.contains("(\(role.rawValue))") == true)
            }
            let read = try await client.getJSON(admin, "/v1/tenant")
            #expect(read["name"] == "Acme acme" && read["time_zone"] == "Europe/Paris")
            #expect(try await client.getJSON(admin, "/v1/audit-log?action=tenant.update")["data"]?.arrayValue?.isEmpty == true)
        }
    }
}

/// Why a message or job waits: `waiting_reason` and `not_before` on the API.
@Suite struct MessageWaitingTests {
    let iso = Date.ISO8601FormatStyle()

    @Test(arguments: TestEnv.kinds)
    func messagesAndJobsSayWhyTheyWait(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let key = seeded.adminKey
            // 09:00 in Paris: an SMS for 22:00 is held by quiet hours until 08:00 the next morning.
            let held = try await client.postJSON(key, "/v1/messages", ["channel": "sms", "to": "+33612345678", "text": "Late",
                                                                      "send_at": "2027-01-15T21:00:00Z"], status: .accepted)
            let scheduled = try await client.postJSON(key, "/v1/messages", ["channel": "sms", "to": "+33612345678", "text": "Noon",
                                                                           "send_at": "2027-01-15T11:00:00Z"], status: .accepted)
            let now = try await client.postJSON(key, "/v1/messages", ["channel": "sms", "to": "+33612345679", "text": "Now"], status: .accepted)
            let heldID = try #require(held["message_id"]?.stringValue)

            let m1 = try await client.getJSON(key, "/v1/messages/\(heldID)")
            #expect(m1["waiting_reason"] == "quiet_hours")
            #expect(m1["not_before"]?.stringValue == Timestamps.format(try iso.parse("2027-01-16T08:00:00+01:00")))
            let m2 = try await client.getJSON(key, "/v1/messages/\(scheduled["message_id"]?.stringValue ?? "")")
            #expect(m2["waiting_reason"] == "scheduled" && m2["not_before"]?.stringValue == "2027-01-15T11:00:00.000Z")
            // Due now: the application's own worker may already be on it.
            let m3 = try await client.getJSON(key, "/v1/messages/\(now["message_id"]?.stringValue ?? "")")
            #expect(["due", "sending"].contains(m3["waiting_reason"]?.stringValue ?? "") || m3["status"] == "sent", "\(m3.serialized())")
            #expect(m3["not_before"] == .null)

            let jobs = try await client.getJSON(key, "/v1/jobs")["data"]?.arrayValue ?? []
            let reasons = Set(jobs.compactMap { $0["waiting_reason"]?.stringValue })
            #expect(reasons.isSuperset(of: ["quiet_hours", "scheduled"]))
            let heldJob = jobs.first { $0["job_id"] == held["job_id"] }
            #expect(heldJob?["not_before"] == m1["not_before"])

            // A STOP from the recipient: the scheduled SMS will not go out, and says so.
            let admin = ActionContext(principal: Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"), requestID: nil)
            _ = try await ConsentService(store: store, clock: clock).set(admin, channel: .sms, recipient: "+33612345678", status: .suppressed, reason: "asked")
            let blocked = try await client.getJSON(key, "/v1/messages/\(heldID)")
            #expect(blocked["waiting_reason"] == "no_consent")
            #expect(blocked["waiting_detail"]?.stringValue?.isEmpty == false)

            // Delivered: nothing is waiting any more.
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let worker = CommsWorker(queue: JobQueue(store: store, clock: clock), channel: OutboxChannel(), settings: WorkerSettings(), logger: logger)
            var sent = JSONValue.null
            for _ in 0..<300 {
                _ = try await worker.runDueJobs()
                sent = try await client.getJSON(key, "/v1/messages/\(now["message_id"]?.stringValue ?? "")")
                if sent["status"] == "sent" { break }
                try await Task.sleep(for: .milliseconds(10))  // the app's worker holds the job: let it finish
            }
            #expect(sent["status"] == "sent" && sent["waiting_reason"] == .null)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aRetryIsToldApartFromQuietHoursAndASchedule(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let seeded = try await Seeded.make(store, clock: clock)
            var job = try await JobQueue(store: store, clock: clock).enqueue(NewJob(tenantID: seeded.tenant.id, type: "send_sms", payload: "{}", runAt: clock.now()))
            try reasons(&job)
        }
    }

    func reasons(_ job: inout Job) throws {
        let paris = try #require(TimeZone(identifier: "Europe/Paris"))
        let now = try iso.parse("2027-01-15T09:00:00+01:00")
        job.state = .retrying
        job.runAt = now.addingTimeInterval(300)
        job.attempts = 2
        #expect(Waiting.of(job, now: now, zone: paris, quietHours: .default) == Waiting(reason: .retrying, notBefore: job.runAt))
        job.runAt = try iso.parse("2027-01-16T08:00:00+01:00")
        #expect(Waiting.of(job, now: now, zone: paris, quietHours: .default)?.reason == .quietHours)
        #expect(Waiting.of(job, now: now, zone: paris, quietHours: .default, exempt: true)?.reason == .retrying)
        job.state = .queued
        job.attempts = 0
        job.runAt = now.addingTimeInterval(3600)
        #expect(Waiting.of(job, now: now, zone: paris, quietHours: .default)?.reason == .scheduled)
        job.state = .running
        #expect(Waiting.of(job, now: now, zone: paris, quietHours: .default)?.reason == .sending)
        job.state = .dead
        #expect(Waiting.of(job, now: now, zone: paris, quietHours: .default) == nil)
    }
}
