import Foundation
import Logging
import ParleyCore
import ParleyStorage
import SQLKit
import Synchronization

/// What the worker reports; the server implements it with Prometheus.
public protocol CommsMetrics: Sendable {
    func jobFinished(type: String, outcome: String)
    func messageSent(channel: String, provider: String, enqueueToSend: Duration)
    /// One personalisation attempt at acceptance, by channel and `PersonalizationOutcome`.
    func personalized(channel: String, outcome: String)
}

extension CommsMetrics {
    public func personalized(channel: String, outcome: String) {}
}

/// A way out for a rendered message. Throws `DeliveryError` so the worker knows whether to retry.
public protocol MessageChannel: Sendable {
    var name: String { get }
    /// Delivers `message`. Runs in the transaction that marks it sent, so a channel that writes
    /// to the database (the outbox) commits exactly once with the message's status.
    func deliver(_ message: Message, on db: any SQLDatabase, clock: any Clock) async throws
}

public enum DeliveryError: Error, Sendable, Equatable {
    case transient(String)
    /// The channel cannot reach the recipient: the recipient is suppressed on that channel.
    case permanent(String)
    /// Parley itself refuses to send (consent changed): fails without suppressing.
    case refused(String)
}

/// The default channel: keeps the exact rendered message for viewing through the API.
public struct OutboxChannel: MessageChannel {
    public let name = "outbox"
    /// The `From:` the stored email shows (`PARLEY_EMAIL_FROM` when set).
    let from: String

    public init(from: String = "Parley <no-reply@parley.invalid>") {
        self.from = from
    }

    public func deliver(_ message: Message, on db: any SQLDatabase, clock: any Clock) async throws {
        let now = clock.now()
        // The email exactly as SMTP would carry it (multipart when there is HTML); SMS as its body.
        let content = message.channel == .email
            ? MIMEBuilder.build(from: from, to: [message.recipient], subject: message.subject ?? "", text: message.bodyText, html: message.bodyHTML,
                                messageID: "\(message.id)@parley", date: now, extraHeaders: message.listUnsubscribeHeaders)
            : message.bodyText
        // `message_id` is unique: a retried job cannot leave a second copy.
        try await db.raw("""
            INSERT INTO outbox (id, tenant_id, message_id, channel, recipient, content, created_at)
            VALUES (\(bind: UUIDv7.make(at: now)), \(bind: message.tenantID), \(bind: message.id), \(bind: message.channel.rawValue),
                    \(bind: message.recipient), \(bind: content), \(bind: now))
            ON CONFLICT (message_id) DO NOTHING
            """).run()
    }
}

/// Work of another kind than a message, contributed by a pack (`PackRuntime.jobHandlers`): the
/// worker runs a claimed job whose `type` names a handler with it, under the same lease,
/// heartbeat, retries and backoff as a message. A job is run at least once: a worker that dies
/// mid-run leaves it to be rescued and run again, so a handler records its progress in its own
/// tables (in the transactions that do the work) and skips what is already done.
public struct JobHandler: Sendable {
    /// Thrown by a handler when trying again cannot help: the job dies at once with `reason`.
    public struct Permanent: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    public var type: String
    /// Returning ends the job as succeeded; throwing `Permanent` kills it; any other error retries it.
    public var run: @Sendable (Job) async throws -> Void

    public init(type: String, run: @escaping @Sendable (Job) async throws -> Void) {
        self.type = type
        self.run = run
    }
}

public struct WorkerSettings: Sendable {
    public var maxConcurrentJobs: Int = 5
    public var pollInterval: Duration = .milliseconds(5000)
    public var lease: Duration = .seconds(30)
    public var backoff = RetryBackoff()
    /// Attempts per job: `MAX_RETRIES` + 1.
    public var maxAttempts: Int = 4
    public var quietHours: QuietHours = .default
    /// Signs the List-Unsubscribe link of marketing email; without it none is added.
    public var unsubscribe: UnsubscribeLinks?
    public init() {}
}

/// Runs send jobs: claims due jobs (woken by `wake()` or by the poll interval), delivers each
/// through the channel, records the outcome, and rescues jobs of workers that died.
public final class CommsWorker: Sendable {
    let queue: JobQueue
    /// The way out for a tenant's message on a channel, read in the delivery's transaction.
    let route: @Sendable (_ tenantID: String, Channel, any SQLDatabase) async throws -> Route
    let settings: WorkerSettings
    let logger: Logger
    let metrics: (any CommsMetrics)?
    let id: String
    private let signal: AsyncStream<Void>.Continuation
    private let signals: AsyncStream<Void>
    private let running = Mutex<Set<String>>([])
    /// The packs' job handlers by job type; messages' jobs have none.
    private let handlers = Mutex<[String: JobHandler]>([:])

    /// Every message through `channel` (the outbox by default).
    public convenience init(queue: JobQueue, channel: any MessageChannel, settings: WorkerSettings, logger: Logger, metrics: (any CommsMetrics)? = nil) {
        self.init(queue: queue, routes: { _ in .local(channel) }, settings: settings, logger: logger, metrics: metrics)
    }

    /// The same way out for every tenant.
    public convenience init(queue: JobQueue, routes: @escaping @Sendable (Channel) -> Route, settings: WorkerSettings, logger: Logger,
                            metrics: (any CommsMetrics)? = nil) {
        self.init(queue: queue, router: { _, channel, _ in routes(channel) }, settings: settings, logger: logger, metrics: metrics)
    }

    /// Each tenant's own provider where it set one (`ChannelRouter`).
    public init(queue: JobQueue, router: @escaping @Sendable (String, Channel, any SQLDatabase) async throws -> Route, settings: WorkerSettings,
                logger: Logger, metrics: (any CommsMetrics)? = nil) {
        self.queue = queue
        self.route = router
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.id = "worker-" + UUIDv7.make(at: queue.clock.now())
        (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Adds the packs' job handlers (at assembly, before the worker runs).
    public func install(_ handlers: [JobHandler]) {
        self.handlers.withLock { table in for h in handlers { table[h.type] = h } }
    }

    /// Asks the worker to look for due jobs now (after an enqueue in this process).
    public func wake() { signal.yield() }

    /// Claims and runs what is due, once; returns how many jobs it ran. The loop and tests use it.
    @discardableResult
    public func runDueJobs() async throws -> Int {
        _ = try await queue.rescueExpired()
        var ran = 0
        while true {
            let free = settings.maxConcurrentJobs - running.withLock { $0.count }
            guard free > 0 else { return ran }
            let jobs = try await queue.claim(worker: id, limit: free, lease: settings.lease)
            if jobs.isEmpty { return ran }
            running.withLock { $0.formUnion(jobs.map(\.id)) }
            await withTaskGroup(of: Void.self) { group in
                for job in jobs {
                    group.addTask {
                        await self.execute(job)
                        _ = self.running.withLock { $0.remove(job.id) }
                    }
                }
            }
            ran += jobs.count
        }
    }

    /// Runs until cancelled: after each wake-up or poll interval, runs what is due.
    public func run() async {
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: settings.lease / 3)
                let ids = running.withLock { Array($0) }
                try? await queue.heartbeat(worker: id, jobIDs: ids, lease: settings.lease)
            }
        }
        defer { heartbeat.cancel() }
        let poll = settings.pollInterval
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: poll)
                signal.yield()
            }
        }
        defer { ticker.cancel() }
        // Jobs queued by other processes (PostgreSQL); the poll is the backstop if this drops.
        let store = queue.store
        let logger = self.logger
        let listener = Task {
            while !Task.isCancelled {
                do {
                    try await store.listen(channel: JobQueue.notifyChannel) { [signal] _ in signal.yield() }
                } catch {
                    if Task.isCancelled { break }
                    logger.debug("job notifications unavailable; polling meanwhile", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(5))
            }
        }
        defer { listener.cancel() }
        signal.yield()
        for await _ in signals {
            do {
                try await runDueJobs()
            } catch {
                logger.warning("job queue unavailable, retrying at the next poll", metadata: ["error": "\(error)"])
            }
        }
    }

    public func stop() { signal.finish() }

    static func name(of route: Route) -> String {
        switch route {
        case .local(let c): c.name
        case .external(let c): c.name
        }
    }

    private enum Step: Sendable { case postponed, closed(Message, String), send(Message, any ExternalChannel), skip }

    /// What became of a job's message.
    private enum Delivery: Sendable {
        /// Inside quiet hours: the job went back to the queue without counting the attempt.
        case postponed
        /// Delivered by a local channel; the job was closed in the same transaction.
        case closed(Message, provider: String)
        /// Delivered by an external provider; the job is still to be closed.
        case sent(Message, provider: String)
        /// Already handled by an earlier attempt.
        case skipped
    }

    /// Another worker holds the job now: this attempt's transaction rolls back and records nothing.
    struct LeaseLost: Error {}

    /// Delivers the message once. A local channel checks quiet hours and consent, delivers, marks
    /// the message sent and closes the job in one transaction. External ones: the message is
    /// marked `sending` first, the provider is called outside any transaction, then the outcome is
    /// recorded. An attempt interrupted after `sending` is repeated only for providers that drop
    /// duplicates by idempotency key; otherwise it is recorded as sent with a note, rather than
    /// risk a second copy.
    private func deliver(_ messageID: String, job: Job) async throws -> Delivery {
        let repo = MessageRepository()
        let queue = self.queue
        let clock = queue.clock
        let consent = ConsentService(store: queue.store, clock: clock)
        let route = self.route
        let worker = id
        let quietHours = settings.quietHours
        let unsubscribe = settings.unsubscribe
        let step: Step = try await queue.store.transaction { db in
            guard var message = try await repo.find(tenantID: job.tenantID, id: messageID, on: db) else {
                throw DeliveryError.permanent("message \(messageID) no longer exists")
            }
            if message.channel == .email, message.purpose == .marketing, let links = unsubscribe {
                message.listUnsubscribeURL = links.url(tenantID: message.tenantID, recipient: message.recipient)
            }
            let way = try await route(message.tenantID, message.channel, db)
            switch message.status {
            case .queued:
                // Checked again at send time: a retry's backoff may have landed inside quiet hours.
                if !message.quietHoursExempt,
                   let until = quietHours.deferral(for: clock.now(), in: try await QuietHours.zone(ofTenant: message.tenantID, on: db)) {
                    guard try await queue.postpone(job, worker: worker, until: until, on: db) else { throw LeaseLost() }
                    return .postponed
                }
                // Consent may have changed since the message was accepted (a STOP in between).
                if let refusal = try await consent.refusal(tenantID: message.tenantID, channel: message.channel, recipient: message.recipient,
                                                           purpose: message.purpose, on: db) {
                    throw DeliveryError.refused(refusal.message)
                }
                switch way {
                case .local(let channel):
                    // Both conditional: a worker racing for the same message (a lost lease) records nothing.
                    guard try await repo.markDelivered(id: message.id, provider: channel.name, at: clock.now(), on: db),
                          try await queue.succeed(job, worker: worker, on: db) else { throw LeaseLost() }
                    try await channel.deliver(message, on: db, clock: clock)
                    return .closed(message, channel.name)
                case .external(let channel):
                    guard try await repo.markSending(id: message.id, provider: channel.name, at: clock.now(), on: db) else { throw LeaseLost() }
                    return .send(message, channel)
                }
            case .sending:
                if case .external(let channel) = way, channel.honoursIdempotencyKeys { return .send(message, channel) }
                try await repo.markSent(id: message.id, provider: Self.name(of: way), at: clock.now(),
                                        note: "an earlier attempt was interrupted after reaching the provider; not sent again to avoid a duplicate",
                                        on: db)
                return .skip
            case .sent, .failed, .cancelled:
                return .skip
            }
        }
        switch step {
        case .postponed:
            return .postponed
        case .skip:
            return .skipped
        case .closed(let message, let provider):
            return .closed(message, provider: provider)
        case .send(let message, let channel):
            let providerID: String?
            do {
                providerID = try await channel.send(message, idempotencyKey: message.id)
            } catch {
                let reason = (error as? DeliveryError).map { "\($0)" } ?? "\(error)"
                try? await queue.store.transaction { db in try await repo.backToQueued(id: message.id, error: reason, at: clock.now(), on: db) }
                throw error
            }
            try await queue.store.transaction { db in
                try await repo.markSent(id: message.id, provider: channel.name, providerMessageID: providerID, at: clock.now(), on: db)
            }
            return .sent(message, provider: channel.name)
        }
    }

    /// A permanent provider failure (invalid number, hard bounce, carrier opt-out) suppresses the
    /// recipient on that channel, so nothing more is attempted.
    private func suppressIfUndeliverable(_ job: Job, reason: String) async {
        guard let payload = JobPayload.decode(job.payload) else { return }
        let clock = queue.clock
        do {
            try await queue.store.transaction { db in
                guard let message = try await MessageRepository().find(tenantID: job.tenantID, id: payload.messageID, on: db) else { return }
                try await ConsentService(store: self.queue.store, clock: clock).block(
                    tenantID: message.tenantID, channel: message.channel, recipient: message.recipient,
                    status: .suppressed, source: "delivery:\(message.provider ?? message.channel.rawValue)", reason: reason, on: db)
            }
        } catch {
            logger.warning("could not record a suppression", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Runs a pack's job and records its outcome; a lost lease records nothing.
    private func execute(_ job: Job, with handler: JobHandler) async {
        let outcome: JobQueue.Outcome
        do {
            try await handler.run(job)
            outcome = .succeeded
        } catch let failure as JobHandler.Permanent {
            outcome = .permanentFailure(failure.reason)
        } catch {
            outcome = .transientFailure("\(error)")
        }
        do {
            let finished = try await queue.finish(job, worker: id, outcome: outcome, backoff: settings.backoff)
            if let finished { metrics?.jobFinished(type: job.type, outcome: finished.state.rawValue) }
        } catch {
            logger.warning("could not record a job's outcome; its lease will expire and it will be retried",
                           metadata: ["job_id": "\(job.id)", "error": "\(error)"])
        }
    }

    private func execute(_ job: Job) async {
        if let handler = handlers.withLock({ $0[job.type] }) {
            await execute(job, with: handler)
            return
        }
        let outcome: JobQueue.Outcome
        let repo = MessageRepository()
        let clock = queue.clock
        func sent(_ message: Message, _ provider: String) {
            metrics?.messageSent(channel: message.channel.rawValue, provider: provider,
                                 enqueueToSend: .milliseconds(Int64(clock.now().timeIntervalSince(message.createdAt) * 1000)))
        }
        do {
            guard let payload = JobPayload.decode(job.payload) else { throw DeliveryError.permanent("the job's payload is unreadable") }
            switch try await deliver(payload.messageID, job: job) {
            case .postponed:
                return
            case .closed(let message, let provider):
                metrics?.jobFinished(type: job.type, outcome: JobState.succeeded.rawValue)
                sent(message, provider)
                return
            case .sent(let message, let provider):
                sent(message, provider)
                outcome = .succeeded
            case .skipped:
                logger.info("message already handled; job closed", metadata: ["job_id": "\(job.id)"])
                outcome = .succeeded
            }
        } catch is LeaseLost {
            return
        } catch DeliveryError.permanent(let reason) {
            outcome = .permanentFailure(reason)
            await suppressIfUndeliverable(job, reason: reason)
        } catch DeliveryError.refused(let reason) {
            outcome = .permanentFailure(reason)
        } catch DeliveryError.transient(let reason) {
            outcome = .transientFailure(reason)
        } catch {
            outcome = .transientFailure("\(error)")
        }
        do {
            let finished = try await queue.finish(job, worker: id, outcome: outcome, backoff: settings.backoff)
            if let finished { metrics?.jobFinished(type: job.type, outcome: finished.state.rawValue) }
            if let finished, finished.state == .dead, let payload = JobPayload.decode(job.payload) {
                let reason = finished.lastError ?? "failed"
                let queue = self.queue
                let maxAttempts = settings.maxAttempts
                let fallback = try await queue.store.transaction { db -> Message? in
                    try await repo.markFailed(id: payload.messageID, error: reason, at: clock.now(), on: db)
                    // An SMS that cannot be delivered goes by email when the request named an address.
                    guard let sms = try await repo.find(tenantID: job.tenantID, id: payload.messageID, on: db) else { return nil }
                    return try await repo.queueFallback(for: sms, queue: queue, maxAttempts: maxAttempts, at: clock.now(), on: db)
                }
                if fallback != nil { wake() }
            } else if let finished, finished.state == .retrying, let payload = JobPayload.decode(job.payload) {
                let reason = finished.lastError ?? "retrying"
                try await queue.store.transaction { db in try await repo.noteError(id: payload.messageID, error: reason, at: clock.now(), on: db) }
            }
        } catch {
            logger.warning("could not record a job's outcome; its lease will expire and it will be retried",
                           metadata: ["job_id": "\(job.id)", "error": "\(error)"])
        }
    }
}
