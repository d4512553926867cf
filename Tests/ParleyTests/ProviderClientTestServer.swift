import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A request the fake messaging provider received.
struct CommsCapturedRequest: Sendable {
    var method: String
    var path: String
    /// Header names lowercased; repeated headers joined with ", ".
    var headers: [String: String]
    var body: String

    /// The body as `application/x-www-form-urlencoded` pairs, decoded independently of the client's encoder.
    var formPairs: [(String, String)] {
        body.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                (String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding) ?? "<undecodable>"
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    var form: [String: String] { Dictionary(formPairs, uniquingKeysWith: { first, _ in first }) }

    /// The body as a JSON object.
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
    }
}

/// What the fake provider does with one request.
enum CommsFakeReply: Sendable {
    /// Answers with this status, headers and body.
    case answer(status: Int, headers: [String: String], body: String)
    /// Never sends the response head (until the server stops).
    case neverAnswer
    /// Sends the head and `partialBody`, then nothing more (until the server stops).
    case stallBody(status: Int, headers: [String: String], partialBody: String)

    static func json(_ status: Int, _ body: String, headers: [String: String] = [:]) -> CommsFakeReply {
        .answer(status: status, headers: ["content-type": "application/json"].merging(headers) { $1 }, body: body)
    }
}

struct CommsTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A local HTTP server on 127.0.0.1 (port 0) standing in for Twilio, SendGrid or Resend: records every
/// request and replays scripted answers (the n-th request gets the n-th reply; the last one repeats).
final class CommsFakeProviderServer: Sendable {
    private let recorded = Mutex<[CommsCapturedRequest]>([])
    private let stopped = Mutex(false)
    private let replies: [CommsFakeReply]

    private init(replies: [CommsFakeReply]) { self.replies = replies }

    var requests: [CommsCapturedRequest] { recorded.withLock { $0 } }

    /// The one request received (fails when there were none or several).
    func onlyRequest() throws -> CommsCapturedRequest {
        let requests = self.requests
        guard requests.count == 1, let request = requests.first else {
            throw CommsTestFailure("expected one request, got \(requests.count)")
        }
        return request
    }

    /// Runs `body` with the base URL (`http://127.0.0.1:<port>`) of a server replaying `replies`.
    static func with<T>(_ replies: CommsFakeReply...,
                        body: (_ baseURL: String, _ server: CommsFakeProviderServer) async throws -> T) async throws -> T {
        let server = CommsFakeProviderServer(replies: replies)
        // Stalled handlers are released when the test ends (the server itself lives on: see TestServers).
        defer { server.stopped.withLock { $0 = true } }
        let port = try await TestServers.start { request in try await server.respond(to: request) }
        return try await body("http://127.0.0.1:\(port)", server)
    }

    private func waitUntilStopped() async {
        while !stopped.withLock({ $0 }), !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func respond(to request: Request) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
        }
        let body = try await request.body.collect(upTo: 1 << 20)
        let index = recorded.withLock {
            $0.append(CommsCapturedRequest(method: request.method.rawValue, path: request.uri.path, headers: headers,
                                           body: String(buffer: body)))
            return $0.count - 1
        }
        switch replies[min(index, replies.count - 1)] {
        case .answer(let status, let headers, let body):
            return Response(status: .init(code: status), headers: Self.fields(headers), body: .init(byteBuffer: ByteBuffer(string: body)))
        case .neverAnswer:
            await waitUntilStopped()
            return Response(status: .serviceUnavailable)
        case .stallBody(let status, let headers, let partialBody):
            return Response(status: .init(code: status), headers: Self.fields(headers), body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: partialBody))
                await self.waitUntilStopped()
                try await writer.finish(nil)
            })
        }
    }

    private static func fields(_ headers: [String: String]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return fields
    }
}
