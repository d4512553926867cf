import Foundation
import Logging
import ParleyAgent
import ParleyCore
import Synchronization
import Testing

/// A scripted in-memory provider: call n gets `script[n]` (the last entry repeats).
final class FakeProvider: ModelProvider {
    enum Outcome: Sendable {
        case answer([ModelEvent])
        case fail(ProviderError)
        /// Yields `events`, then fails.
        case failAfter([ModelEvent], ProviderError)
    }

    let name: String
    private let script: [Outcome]
    private let callCount = Mutex(0)

    init(_ name: String, _ script: [Outcome]) {
        self.name = name
        self.script = script
    }

    var calls: Int { callCount.withLock { $0 } }

    func stream(_ request: ModelRequest) -> AsyncThrowingStream<ModelEvent, any Error> {
        let call = callCount.withLock { count in
            defer { count += 1 }
            return count
        }
        let outcome = script.isEmpty ? .answer([]) : script[min(call, script.count - 1)]
        return AsyncThrowingStream { continuation in
            switch outcome {
            case .answer(let events):
                for event in events { continuation.yield(event) }
                continuation.finish()
            case .fail(let error):
                continuation.finish(throwing: error)
            case .failAfter(let events, let error):
                for event in events { continuation.yield(event) }
                continuation.finish(throwing: error)
            }
        }
    }
}

/// Records the waits instead of waiting.
final class RecordingSleeper: Sleeper {
    private let durations = Mutex<[Duration]>([])
    var slept: [Duration] { durations.withLock { $0 } }
    func sleep(for duration: Duration) async throws { durations.withLock { $0.append(duration) } }
}

@Suite struct ProviderFailoverTests {
    static let reply: [ModelEvent] = [.textDelta("hi"), .usage(inputTokens: 3, outputTokens: 1), .stop(.endTurn)]
    static let request = ModelRequest(messages: [.user("hello")])
    static let quiet: Logger = {
        var logger = Logger(label: "provider-failover-test")
        logger.logLevel = .critical
        return logger
    }()

    static func failover(_ providers: [FakeProvider], sleeper: RecordingSleeper, clock: TestClock = TestClock(),
                         random: @escaping @Sendable () -> Double = { 0 }) -> FailoverProvider {
        FailoverProvider(providers: providers, sleeper: sleeper, clock: clock, random: random, logger: quiet)
    }

    @Test func retriesWithExponentialBackoffThenSucceeds() async throws {
        let a = FakeProvider("a", [.fail(.overloaded), .fail(.transport("reset")), .answer(Self.reply)])
        let b = FakeProvider("b", [.answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let failover = Self.failover([a, b], sleeper: sleeper)
        let (events, error) = await collect(failover.stream(Self.request))
        #expect(error == nil)
        #expect(events == [.provider("a")] + Self.reply)
        #expect(a.calls == 3)
        #expect(b.calls == 0)
        #expect(sleeper.slept == [.milliseconds(500), .seconds(1)])
        #expect(failover.circuitState(ofProviderAt: 0) == .closed(consecutiveFailures: 0))
    }

    @Test func backoffGrowsByTheFactorIsCappedAndAddsJitter() {
        let policy = RetryPolicy(maxDelay: .seconds(3), jitter: 0.2)
        #expect(policy.backoff(afterAttempt: 1, random: 0) == .milliseconds(500))
        #expect(policy.backoff(afterAttempt: 2, random: 0) == .seconds(1))
        #expect(policy.backoff(afterAttempt: 3, random: 0) == .seconds(2))
        #expect(policy.backoff(afterAttempt: 4, random: 0) == .seconds(3))
        #expect(policy.backoff(afterAttempt: 1, random: 0.5) == .milliseconds(550))
    }

    @Test func jitterFromTheInjectedRandomSourceIsAdded() async throws {
        let a = FakeProvider("a", [.fail(.timeout), .answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let (_, error) = await collect(Self.failover([a], sleeper: sleeper, random: { 0.5 }).stream(Self.request))
        #expect(error == nil)
        #expect(sleeper.slept == [.milliseconds(550)])
    }

    @Test func retryAfterIsHonoured() async throws {
        let a = FakeProvider("a", [.fail(.rateLimited(retryAfter: .seconds(7))), .fail(.rateLimited(retryAfter: .seconds(2))), .answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let (events, error) = await collect(Self.failover([a], sleeper: sleeper).stream(Self.request))
        #expect(error == nil)
        #expect(events.first == .provider("a"))
        #expect(sleeper.slept == [.seconds(7), .seconds(2)])
    }

    @Test func aRetryAfterBeyondTheLimitMovesOnWithoutWaiting() async throws {
        let a = FakeProvider("a", [.fail(.rateLimited(retryAfter: .seconds(3600)))])
        let b = FakeProvider("b", [.answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let (events, error) = await collect(Self.failover([a, b], sleeper: sleeper).stream(Self.request))
        #expect(error == nil)
        #expect(events.first == .provider("b"))
        #expect(a.calls == 1)
        #expect(sleeper.slept.isEmpty)
    }

    @Test func theCircuitOpensAfterThreeFailuresAndTheNextCallSkipsTheProvider() async throws {
        let clock = TestClock()
        let a = FakeProvider("a", [.fail(.overloaded)])
        let b = FakeProvider("b", [.answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let failover = Self.failover([a, b], sleeper: sleeper, clock: clock)

        let (first, firstError) = await collect(failover.stream(Self.request))
        #expect(firstError == nil)
        #expect(first == [.provider("b")] + Self.reply)
        #expect(a.calls == 3)
        #expect(failover.circuitState(ofProviderAt: 0) == .open(until: clock.now().addingTimeInterval(30)))

        let (second, secondError) = await collect(failover.stream(Self.request))
        #expect(secondError == nil)
        #expect(second.first == .provider("b"))
        #expect(a.calls == 3)
        #expect(b.calls == 2)
        #expect(sleeper.slept == [.milliseconds(500), .seconds(1)])
    }

    @Test func aHalfOpenCircuitLetsOneTrialThroughAfterTheCoolDown() async throws {
        let clock = TestClock()
        let a = FakeProvider("a", [.fail(.overloaded), .fail(.overloaded), .fail(.overloaded), .answer(Self.reply)])
        let b = FakeProvider("b", [.answer(Self.reply)])
        let failover = Self.failover([a, b], sleeper: RecordingSleeper(), clock: clock)
        _ = await collect(failover.stream(Self.request))
        #expect(failover.circuitState(ofProviderAt: 0) == .open(until: clock.now().addingTimeInterval(30)))

        clock.advance(by: 29)
        _ = await collect(failover.stream(Self.request))
        #expect(a.calls == 3)

        clock.advance(by: 2)
        #expect(failover.circuitState(ofProviderAt: 0) == .halfOpen)
        let (events, error) = await collect(failover.stream(Self.request))
        #expect(error == nil)
        #expect(events.first == .provider("a"))
        #expect(a.calls == 4)
        #expect(failover.circuitState(ofProviderAt: 0) == .closed(consecutiveFailures: 0))
    }

    @Test func aFailedHalfOpenTrialReopensTheCircuitAtOnce() async throws {
        let clock = TestClock()
        let a = FakeProvider("a", [.fail(.server(status: 500))])
        let b = FakeProvider("b", [.answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let failover = Self.failover([a, b], sleeper: sleeper, clock: clock)
        _ = await collect(failover.stream(Self.request))
        #expect(a.calls == 3)

        clock.advance(by: 31)
        let (events, _) = await collect(failover.stream(Self.request))
        #expect(events.first == .provider("b"))
        #expect(a.calls == 4)  // one trial, no retries
        #expect(sleeper.slept.count == 2)  // only the first call's two backoffs
        #expect(failover.circuitState(ofProviderAt: 0) == .open(until: clock.now().addingTimeInterval(30)))
    }

    @Test func aNonRetryableErrorGoesStraightToTheNextProvider() async throws {
        let a = FakeProvider("a", [.fail(.authentication)])
        let b = FakeProvider("b", [.answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let failover = Self.failover([a, b], sleeper: sleeper)
        let (events, error) = await collect(failover.stream(Self.request))
        #expect(error == nil)
        #expect(events == [.provider("b")] + Self.reply)
        #expect(a.calls == 1)
        #expect(sleeper.slept.isEmpty)
        #expect(failover.circuitState(ofProviderAt: 0) == .closed(consecutiveFailures: 0))
    }

    @Test func aFailureAfterPartialOutputIsThrownNotRetried() async throws {
        let a = FakeProvider("a", [.failAfter([.textDelta("par")], .overloaded), .answer(Self.reply)])
        let b = FakeProvider("b", [.answer(Self.reply)])
        let sleeper = RecordingSleeper()
        let (events, error) = await collect(Self.failover([a, b], sleeper: sleeper).stream(Self.request))
        #expect(events == [.provider("a"), .textDelta("par")])
        #expect(error as? ProviderError == .overloaded)
        #expect(a.calls == 1)
        #expect(b.calls == 0)
        #expect(sleeper.slept.isEmpty)
    }

    @Test func whenEveryProviderFailsTheLastErrorIsThrown() async throws {
        let a = FakeProvider("a", [.fail(.overloaded)])
        let b = FakeProvider("b", [.fail(.invalidRequest("messages: empty"))])
        let (events, error) = await collect(Self.failover([a, b], sleeper: RecordingSleeper()).stream(Self.request))
        #expect(events.isEmpty)
        #expect(error as? ProviderError == .invalidRequest("messages: empty"))
        #expect(a.calls == 3)
        #expect(b.calls == 1)
    }

    @Test func whenEveryCircuitIsOpenTheCallIsUnavailable() async throws {
        let a = FakeProvider("a", [.fail(.overloaded)])
        let failover = Self.failover([a], sleeper: RecordingSleeper())
        let (_, firstError) = await collect(failover.stream(Self.request))
        #expect(firstError as? ProviderError == .overloaded)
        let (_, secondError) = await collect(failover.stream(Self.request))
        #expect(secondError as? ProviderError == .unavailable("every circuit is open (a)"))
        #expect(a.calls == 3)
    }

    @Test func failsOverFromARealAnthropicErrorToARealOpenAICompatibleServer() async throws {
        let rejected = ReplayResponse.error(401, body: #"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#)
        let answer = ProviderOpenAITests.text("from ollama") + ProviderOpenAITests.chunk("{}", finish: "stop") + ProviderOpenAITests.done
        try await ProviderTestServer.with(rejected) { anthropicURL, anthropicServer in
            try await ProviderTestServer.with(.stream(answer)) { openAIURL, openAIServer in
                let sleeper = RecordingSleeper()
                let failover = FailoverProvider(providers: [
                    AnthropicProvider(configuration: .init(apiKey: "sk-ant-wrong", baseURL: anthropicURL)),
                    OpenAICompatibleProvider(configuration: .init(apiKey: nil, model: "llama3.2", baseURL: openAIURL + "/v1", name: "ollama")),
                ], sleeper: sleeper, clock: TestClock(), logger: Self.quiet)
                let (events, error) = await collect(failover.stream(Self.request))
                #expect(error == nil)
                #expect(events == [.provider("ollama"), .textDelta("from ollama"), .stop(.endTurn)])
                #expect(anthropicServer.requests.count == 1)
                #expect(openAIServer.requests.count == 1)
                #expect(sleeper.slept.isEmpty)
            }
        }
    }
}
