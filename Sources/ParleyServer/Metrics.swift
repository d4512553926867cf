import Foundation
import ParleyAgent
import ParleyComms
import ParleyStorage
import Prometheus
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Prometheus figures for `/metrics`. The registry is per application (not the global
/// MetricsSystem), so tests build as many apps as they like.
public final class HTTPMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let startTime = Date()
    private let inFlight = Atomic<Int>(0)
    private static let buckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]
    private var requests: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "parley", subsystem: "http", metricName: "requests", unitName: "total",
                                                helpText: "HTTP requests by method, route and status.")
    }
    private var latency: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "parley", subsystem: "http", metricName: "request_duration", unitName: "seconds",
                                               helpText: "HTTP request latency by method and route.")
    }

    private let streams = Atomic<Int>(0)
    /// Set once the agent runtime exists, so `/metrics` can show its live figures.
    let liveAgent = Mutex<(@Sendable () -> (runs: Int, viewers: Int))?>(nil)

    public init() {}

    func streamOpened() { streams.add(1, ordering: .relaxed) }
    func streamClosed() { streams.subtract(1, ordering: .relaxed) }

    func requestStarted() { inFlight.add(1, ordering: .relaxed) }

    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        inFlight.subtract(1, ordering: .relaxed)
        registry.makeCounter(descriptor: requests, labels: [("method", method), ("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: latency, labels: [("method", method), ("route", route)], buckets: Self.buckets).record(duration)
    }

    /// A request refused for going too fast, by tenant (`none` before one is known) and bucket.
    func rateLimited(tenant: String?, bucket: String) {
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "parley", subsystem: "http", metricName: "rate_limited_requests", unitName: "total",
                                                              helpText: "Requests refused with 429 rate_limited, by tenant and bucket."),
                             labels: [("tenant", tenant ?? "none"), ("bucket", bucket)]).increment()
    }

    func render(pool: PoolStats, databaseKind: DatabaseKind) -> String {
        var out = registry.emitToString()
        func metric(_ name: String, _ type: String, _ help: String, _ value: Double, labels: String = "") {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name)\(labels) \(Self.number(value))\n"
        }
        metric("parley_http_requests_in_flight", "gauge", "HTTP requests being served, this one included.", Double(inFlight.load(ordering: .relaxed)))
        let p = ProcessFigures.read()
        metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpuSeconds)
        metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.residentBytes)
        metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtualBytes)
        metric("process_open_fds", "gauge", "Number of open file descriptors.", p.openFDs)
        metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", p.maxFDs)
        metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", startTime.timeIntervalSince1970)
        metric("parley_agent_streams_active", "gauge", "Open SSE and WebSocket event streams.", Double(streams.load(ordering: .relaxed)))
        if let live = liveAgent.withLock({ $0 })?() {
            metric("parley_agent_runs_active", "gauge", "Agent runs executing in this process.", Double(live.runs))
            metric("parley_agent_live_subscribers", "gauge", "Live event subscriptions held in memory.", Double(live.viewers))
        }
        let db = "{database=\"\(databaseKind.rawValue)\"}"
        metric("parley_db_pool_connections_in_use", "gauge", "Database connections currently leased.", Double(pool.inUse), labels: db)
        metric("parley_db_pool_connections_max", "gauge", "Maximum database connections in the pool.", Double(pool.max), labels: db)
        return out
    }

    private static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}

/// Reads the process's own figures from /proc (Linux); zeros elsewhere.
struct ProcessFigures {
    var cpuSeconds = 0.0, residentBytes = 0.0, virtualBytes = 0.0, openFDs = 0.0, maxFDs = 0.0

    static func read() -> ProcessFigures {
        var f = ProcessFigures()
        #if os(Linux)
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after the command name; utime and stime are the 14th and 15th of the line.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]), ticks > 0 {
                f.cpuSeconds = (u + s) / ticks
            }
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let parts = statm.split(separator: " ")
            if parts.count > 1, let vm = Double(parts[0]), let rss = Double(parts[1]) {
                f.virtualBytes = vm * pageSize
                f.residentBytes = rss * pageSize
            }
        }
        f.openFDs = Double((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0)
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { f.maxFDs = Double(limit.rlim_cur) }
        #endif
        return f
    }
}

/// Agent figures, in the same registry as the HTTP ones.
struct AgentPrometheusMetrics: AgentMetrics {
    let registry: PrometheusCollectorRegistry
    private static let runBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(2.5),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
    ]

    private func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "parley", subsystem: "agent", metricName: metric, unitName: unit, helpText: help)
    }

    func workflowFinished(status: WorkflowStatus, duration: Duration) {
        registry.makeCounter(descriptor: name("workflows", "total", "Agent runs that ended, by status."), labels: [("status", status.rawValue)]).increment()
        registry.makeDurationHistogram(descriptor: name("workflow_duration", "seconds", "Agent run duration (one stretch between pauses)."),
                                       labels: [("status", status.rawValue)], buckets: Self.runBuckets).record(duration)
    }

    func toolExecuted(tool: String, outcome: String, duration: Duration) {
        registry.makeCounter(descriptor: name("tool_executions", "total", "Tool calls by tool and outcome."), labels: [("tool", tool), ("outcome", outcome)]).increment()
        registry.makeDurationHistogram(descriptor: name("tool_duration", "seconds", "Tool call duration by tool."),
                                       labels: [("tool", tool)], buckets: Self.runBuckets).record(duration)
    }

    func modelCalled(provider: String, outcome: String, duration: Duration) {
        registry.makeCounter(descriptor: name("model_calls", "total", "Model calls by provider and outcome."), labels: [("provider", provider), ("outcome", outcome)]).increment()
        registry.makeDurationHistogram(descriptor: name("model_call_duration", "seconds", "Model call latency by provider."),
                                       labels: [("provider", provider)], buckets: Self.runBuckets).record(duration)
    }

    func tokensUsed(provider: String, input: Int, output: Int) {
        let d = name("tokens", "total", "Model tokens by provider and direction.")
        registry.makeCounter(descriptor: d, labels: [("provider", provider), ("direction", "input")]).increment(by: Int64(input))
        registry.makeCounter(descriptor: d, labels: [("provider", provider), ("direction", "output")]).increment(by: Int64(output))
    }
}

/// Communications figures: counters from the worker, queue depth queried at scrape time.
struct CommsPrometheusMetrics: CommsMetrics {
    let registry: PrometheusCollectorRegistry
    private static let latencyBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(30), .seconds(60),
        .seconds(300), .seconds(1800), .seconds(3600), .seconds(6 * 3600), .seconds(24 * 3600),
    ]

    func jobFinished(type: String, outcome: String) {
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "parley", subsystem: "comms", metricName: "jobs_finished", unitName: "total",
                                                              helpText: "Job attempts that ended, by job type and the state they left the job in."),
                             labels: [("type", type), ("state", outcome)]).increment()
    }

    func messageSent(channel: String, provider: String, enqueueToSend: Duration) {
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "parley", subsystem: "comms", metricName: "messages_sent", unitName: "total",
                                                              helpText: "Messages delivered, by channel and provider."),
                             labels: [("channel", channel), ("provider", provider)]).increment()
        registry.makeDurationHistogram(descriptor: MetricNameDescriptor(namespace: "parley", subsystem: "comms", metricName: "enqueue_to_send", unitName: "seconds",
                                                                        helpText: "Time from a message being accepted to its delivery (scheduled waits included)."),
                                       labels: [("channel", channel)], buckets: Self.latencyBuckets).record(enqueueToSend)
    }

    func personalized(channel: String, outcome: String) {
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "parley", subsystem: "comms", metricName: "personalizations", unitName: "total",
                                                              helpText: "Template personalisations at acceptance, by channel and outcome (ai or the fallback's reason)."),
                             labels: [("channel", channel), ("outcome", outcome)]).increment()
    }

    static func queueText(_ queue: JobQueue) async -> String {
        guard let stats = try? await queue.stats() else { return "" }
        var out = "# HELP parley_comms_jobs Jobs in the queue by state.\n# TYPE parley_comms_jobs gauge\n"
        for state in JobState.allCases {
            out += "parley_comms_jobs{state=\"\(state.rawValue)\"} \(stats.byState[state] ?? 0)\n"
        }
        out += "# HELP parley_comms_oldest_due_job_age_seconds Age of the oldest job that is due and not yet running.\n"
        out += "# TYPE parley_comms_oldest_due_job_age_seconds gauge\nparley_comms_oldest_due_job_age_seconds \(String(format: "%.3f", stats.oldestDueSeconds))\n"
        return out
    }
}
