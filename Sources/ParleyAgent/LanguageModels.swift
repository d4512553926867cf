import AsyncHTTPClient
import ParleyCore

/// The configured language-model providers (no offline planner), in failover order: what the
/// agent, message personalisation and the knowledge base's written answers share.
public enum LanguageModels {
    /// Each provider's call times out after `timeout`, or `PARLEY_MODEL_TIMEOUT_SECONDS`.
    public static func configured(_ settings: ModelSettings, timeout: Duration? = nil, httpClient: HTTPClient? = nil) -> [any ModelProvider] {
        let timeout = timeout ?? Duration.seconds(settings.timeoutSeconds)
        var chain: [any ModelProvider] = []
        let wanted = settings.order.isEmpty ? ["anthropic", "openai"] : settings.order
        for name in wanted {
            switch name {
            case "anthropic":
                if let key = settings.anthropicAPIKey {
                    chain.append(AnthropicProvider(configuration: .init(apiKey: key, model: settings.anthropicModel, baseURL: settings.anthropicBaseURL, timeout: timeout),
                                                   httpClient: httpClient))
                }
            case "openai":
                if settings.openAIAPIKey != nil || settings.openAIBaseURL != nil {
                    chain.append(OpenAICompatibleProvider(configuration: .init(apiKey: settings.openAIAPIKey, model: settings.openAIModel,
                                                                               baseURL: settings.openAIBaseURL ?? "https://api.openai.com/v1", timeout: timeout),
                                                          httpClient: httpClient))
                }
            default:
                continue
            }
        }
        return chain
    }
}
