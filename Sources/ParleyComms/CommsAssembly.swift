import Foundation
import ParleyCore
import SQLKit

/// The communications engine built from configuration (for `serve`, `worker` and packs).
public enum CommsAssembly {
    /// The way out for each channel, from `PARLEY_EMAIL_PROVIDER` and `PARLEY_SMS_PROVIDER`
    /// (configuration validation guarantees the credentials each one needs).
    public static func routes(_ jobs: JobSettings) -> @Sendable (Channel) -> Route {
        let email = ChannelSettings.installation(jobs, channel: .email).route(for: .email)
        let sms = ChannelSettings.installation(jobs, channel: .sms).route(for: .sms)
        return { channel in channel == .email ? email : sms }
    }

    /// Each tenant's own providers (sealed in `tenant_channels`), else the installation's.
    public static func router(_ jobs: JobSettings, keyring: Keyring, baseURL: String? = nil) -> @Sendable (String, Channel, any SQLDatabase) async throws -> Route {
        let router = ChannelRouter(keyring: keyring, installation: routes(jobs), installationSMS: ChannelSettings.installation(jobs, channel: .sms),
                                   baseURL: baseURL, outbound: OutboundGuard(policy: jobs.outbound))
        return { tenantID, channel, db in try await router.route(tenantID: tenantID, channel: channel, on: db) }
    }

    public static func workerSettings(_ jobs: JobSettings, unsubscribe: UnsubscribeLinks? = nil) -> WorkerSettings {
        var s = WorkerSettings()
        s.unsubscribe = unsubscribe
        s.pollInterval = .milliseconds(jobs.pollIntervalMilliseconds)
        s.maxConcurrentJobs = jobs.maxConcurrentJobs
        s.backoff = RetryBackoff(base: .seconds(jobs.retryDelayMinutes * 60))
        s.maxAttempts = jobs.maxRetries + 1
        s.lease = .seconds(jobs.leaseSeconds)
        return s
    }

    /// Where links in messages point: `PARLEY_PUBLIC_URL`, else the listening address.
    public static func baseURL(_ config: ParleyConfig) -> String {
        config.publicURL ?? "http://\(config.host.contains(":") ? "[\(config.host)]" : config.host):\(config.port)"
    }
}
