import AsyncHTTPClient
import Foundation
import Logging
import ParleyAgent
import ParleyCore
import ParleyPackKit
import ParleyHTTP

/// Builds the agent runtime from configuration: the provider chain and the installed packs.
public enum AgentAssembly {
    /// The configured providers in failover order, ending with the offline planner, which always
    /// answers. With no provider configured the planner is used alone.
    public static func provider(_ settings: ModelSettings, packs: [DomainPack], httpClient: HTTPClient? = nil) -> any ModelProvider {
        let offline = OfflinePlanner(intents: packs.flatMap(\.plannerIntents))
        let chain = languageModels(settings, httpClient: httpClient)
        if chain.isEmpty { return offline }
        return FailoverProvider(providers: chain + [offline])
    }

    /// The configured language-model providers in failover order (no offline planner). Each call
    /// times out after `timeout`, or `PARLEY_MODEL_TIMEOUT_SECONDS`.
    public static func languageModels(_ settings: ModelSettings, timeout: Duration? = nil, httpClient: HTTPClient? = nil) -> [any ModelProvider] {
        LanguageModels.configured(settings, timeout: timeout, httpClient: httpClient)
    }

    public static func settings(_ limits: AgentLimits) -> AgentSettings {
        var s = AgentSettings()
        s.maxIterations = limits.maxIterations
        s.runTimeout = .seconds(limits.runTimeoutSeconds)
        s.contextTokenBudget = limits.contextTokens
        s.maxMessageCharacters = limits.maxMessageCharacters
        s.heartbeatInterval = .seconds(limits.heartbeatSeconds)
        s.streamBuffer = limits.streamBuffer
        return s
    }

    /// A one-line description of the chain for the start-up banner and logs (never keys).
    public static func describe(_ provider: any ModelProvider) -> String {
        if let f = provider as? FailoverProvider { return f.providers.map(\.name).joined(separator: " → ") }
        return provider.name
    }
}
