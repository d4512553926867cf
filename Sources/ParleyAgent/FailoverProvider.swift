import Foundation
import Logging
import ParleyCore
import Synchronization

/// How often and how patiently one provider is retried.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts per provider, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var factor: Double
    public var maxDelay: Duration
    /// Up to this fraction of the backoff is added at random.
    public var jitter: Double
    /// A `retryAfter` longer than this moves on to the next provider instead of waiting.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(500), factor: Double = 2,
                maxDelay: Duration = .seconds(10), jitter: Double = 0.2, maxRetryAfter: Duration = .seconds(60)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.factor = factor
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.maxRetryAfter = maxRetryAfter
    }

    /// The wait after failed attempt `attempt` (1-based): `baseDelay * factor^(attempt-1)`, capped at
    /// `maxDelay`, plus `jitter * random` of that (`random` in 0..<1), in whole milliseconds.
    public func backoff(afterAttempt attempt: Int, random: Double) -> Duration {
        let exponential = baseDelay.seconds * pow(factor, Double(max(0, attempt - 1)))
        let capped = min(exponential, maxDelay.seconds)
        let seconds = capped + capped * jitter * min(max(random, 0), 1)
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

/// When a provider is taken out of rotation and when it is tried again.
public struct CircuitBreakerPolicy: Sendable, Equatable {
    /// Consecutive retryable failures (attempts, not calls) that open the circuit.
    public var failureThreshold: Int
    /// How long an open circuit skips the provider before one trial call is let through.
    public var coolDown: Duration

    public init(failureThreshold: Int = 3, coolDown: Duration = .seconds(30)) {
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
    }
}

public enum CircuitState: Sendable, Equatable {
    case closed(consecutiveFailures: Int)
    /// Skipped until `until`.
    case open(until: Date)
    /// The cool-down is over: the next call tries the provider once; success closes the circuit,
    /// a retryable failure opens it again.
    case halfOpen
}

/// Tries an ordered chain of providers (e.g. Anthropic, then an OpenAI-compatible server).
///
/// Each provider has a circuit breaker and is retried with exponential backoff (or the provider's
/// `retryAfter`) on retryable errors; a non-retryable error (`invalidRequest`, `authentication`, ...)
/// moves straight on to the next provider. Once a provider has yielded its first event the call is
/// committed to it: a later failure is thrown, never retried, because the caller already has part
/// of the answer. When every provider fails, the last error is thrown.
///
/// Which provider answered: the stream's first event is `.provider(name)`, yielded immediately
/// before the answering provider's first event (so it is only ever sent once, for the provider
/// whose output follows). Consumers that do not care can ignore it.
public final class FailoverProvider: ModelProvider {
    public let name: String
    public let providers: [any ModelProvider]
    public let retry: RetryPolicy
    public let circuitBreaker: CircuitBreakerPolicy

    private let sleeper: any Sleeper
    private let clock: any Clock
    private let random: @Sendable () -> Double
    private let logger: Logger
    private let breakers: Mutex<[Breaker]>

    private struct Breaker {
        var failures = 0
        var openedAt: Date?
        var trialInFlight = false
    }

    public init(name: String = "failover", providers: [any ModelProvider], retry: RetryPolicy = RetryPolicy(),
                circuitBreaker: CircuitBreakerPolicy = CircuitBreakerPolicy(), sleeper: any Sleeper = TaskSleeper(),
                clock: any Clock = SystemClock(), random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                logger: Logger = Logger(label: "parley.agent.failover")) {
        self.name = name
        self.providers = providers
        self.retry = retry
        self.circuitBreaker = circuitBreaker
        self.sleeper = sleeper
        self.clock = clock
        self.random = random
        self.logger = logger
        self.breakers = Mutex(Array(repeating: Breaker(), count: providers.count))
    }

    /// The circuit of `providers[index]` as of now.
    public func circuitState(ofProviderAt index: Int) -> CircuitState {
        let now = clock.now()
        return breakers.withLock { breakers in
            guard breakers.indices.contains(index) else { return .closed(consecutiveFailures: 0) }
            let breaker = breakers[index]
            guard let openedAt = breaker.openedAt else { return .closed(consecutiveFailures: breaker.failures) }
            let until = openedAt.addingTimeInterval(circuitBreaker.coolDown.seconds)
            return now < until ? .open(until: until) : .halfOpen
        }
    }

    public func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.run(request) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func run(_ request: ModelRequest, yield: @Sendable (ModelEvent) -> Void) async throws {
        var lastError: (any Error)?
        var skipped: [String] = []
        for (index, provider) in providers.enumerated() {
            guard acquire(index) else {
                skipped.append(provider.name)
                logger.debug("circuit open, skipping model provider", metadata: ["provider": "\(provider.name)"])
                continue
            }
            var attempt = 1
            attempts: while true {
                let (error, yielded) = await self.attempt(provider, request, yield: yield)
                guard let error else {
                    recordSuccess(index)
                    return
                }
                if error is CancellationError || Task.isCancelled {
                    release(index)
                    throw CancellationError()
                }
                let providerError = error as? ProviderError
                let retryable = providerError?.isRetryable ?? false
                let opened = recordFailure(index, retryable: retryable)
                logger.warning("model provider failed", metadata: [
                    "provider": "\(provider.name)", "attempt": "\(attempt)", "error": "\(error)",
                    "circuit_opened": "\(opened)",
                ])
                if yielded { throw error }
                lastError = error
                guard retryable, !opened, attempt < retry.maxAttempts else { break attempts }
                let delay: Duration
                if case .rateLimited(let retryAfter?) = providerError {
                    guard retryAfter <= retry.maxRetryAfter else { break attempts }
                    delay = retryAfter
                } else {
                    delay = retry.backoff(afterAttempt: attempt, random: random())
                }
                do {
                    try await sleeper.sleep(for: delay)
                } catch {
                    throw CancellationError()
                }
                attempt += 1
            }
        }
        throw lastError ?? ProviderError.unavailable("every circuit is open (\(skipped.joined(separator: ", ")))")
    }

    /// One attempt: forwards the provider's events (preceded by `.provider`) and returns the error it
    /// failed with, if any, and whether anything had been yielded by then.
    private func attempt(_ provider: any ModelProvider, _ request: ModelRequest,
                         yield: @Sendable (ModelEvent) -> Void) async -> (error: (any Error)?, yielded: Bool) {
        var yielded = false
        do {
            for try await event in provider.stream(request) {
                if !yielded {
                    yield(.provider(provider.name))
                    yielded = true
                }
                yield(event)
            }
            // A cancelled consumer ends the inner stream early without an error.
            try Task.checkCancellation()
            return (nil, yielded)
        } catch {
            return (error, yielded)
        }
    }

    // MARK: Circuit breaker

    /// Whether `providers[index]` may be called now; claims the single trial of a half-open circuit.
    private func acquire(_ index: Int) -> Bool {
        let now = clock.now()
        let coolDown = circuitBreaker.coolDown.seconds
        return breakers.withLock { breakers in
            guard let openedAt = breakers[index].openedAt else { return true }
            guard now >= openedAt.addingTimeInterval(coolDown), !breakers[index].trialInFlight else { return false }
            breakers[index].trialInFlight = true
            return true
        }
    }

    private func recordSuccess(_ index: Int) {
        breakers.withLock { $0[index] = Breaker() }
    }

    /// Counts a failed attempt; returns whether the circuit is now open.
    private func recordFailure(_ index: Int, retryable: Bool) -> Bool {
        let now = clock.now()
        let threshold = circuitBreaker.failureThreshold
        return breakers.withLock { breakers in
            var breaker = breakers[index]
            defer { breakers[index] = breaker }
            let wasTrial = breaker.trialInFlight
            breaker.trialInFlight = false
            guard retryable else { return false }
            breaker.failures += 1
            if wasTrial || breaker.failures >= threshold {
                breaker.openedAt = now
                return true
            }
            return false
        }
    }

    /// Gives back a half-open trial that ended without a verdict (the caller went away).
    private func release(_ index: Int) {
        breakers.withLock { $0[index].trialInFlight = false }
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
