import BatchdCore
import BatchdHandlers
import BatchdTestKit
import Foundation
import Logging
import Testing

/// The http job through the real libcurl against a real server on 127.0.0.1.
@Suite("HTTP jobs against a loopback server")
struct HTTPJobTests {
    func run(_ yaml: String, environment: [String: String] = [:]) async throws -> RunRecord {
        let config = try ConfigLoader(registry: BuiltInJobTypes.registry).load(bytes: Array(yaml.utf8), path: "/tmp/batch.yaml").get()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        return try await Engine.runOnce(try #require(config.job(named: "ping")), config: config,
                                        history: InMemoryHistoryStore(), logger: logger, environment: environment)
    }

    @Test func aPostWithHeadersBodyAndASecretHeaderFromTheEnvironment() async throws {
        let server = try LoopbackHTTPServer { _ in .init(status: 202, body: "accepted") }
        let record = try await run("""
        jobs:
          ping:
            type: http
            url: \(server.baseURL)/hook?x=1
            method: POST
            headers: { Content-Type: application/json }
            headersEnv: { Authorization: PING_TOKEN }
            body: '{"hello": "world"}'
            expectStatus: [200, 202]
        """, environment: ["PING_TOKEN": "Bearer s3cret"])
        #expect(record.status == .completed)
        #expect(record.result == ["status": 202, "bytes": 8])
        let request = try #require(server.requests.first)
        #expect(request.method == "POST" && request.path == "/hook?x=1")
        #expect(request.header("Authorization") == "Bearer s3cret")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("User-Agent")?.hasPrefix("batchd/") == true)
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"hello": "world"}"#)
        // The secret reached the server, and nothing of it is in the record.
        #expect(!JSONWriter.string(record.json).contains("s3cret"))
    }

    @Test func anUnexpectedStatusFailsTheRunWithTheAnswer() async throws {
        let server = try LoopbackHTTPServer { _ in .init(status: 503, body: "down for maintenance") }
        let record = try await run("jobs:\n  ping: { type: http, url: '\(server.baseURL)/' }\n")
        #expect(record.status == .failed)
        #expect(record.error == "\(server.baseURL)/ answered 503, expected 2xx: down for maintenance")
    }

    @Test func aMissingSecretVariableFailsBeforeAnyRequest() async throws {
        let server = try LoopbackHTTPServer { _ in .init(status: 200) }
        let record = try await run("jobs:\n  ping: { type: http, url: '\(server.baseURL)/', headersEnv: { Authorization: NOT_SET_BATCHD } }\n")
        #expect(record.status == .failed)
        #expect(record.error == "header Authorization: environment variable NOT_SET_BATCHD is not set")
        #expect(server.requests.isEmpty)
    }

    @Test func redirectsAreFollowed() async throws {
        let server = try LoopbackHTTPServer { request in
            request.path == "/old" ? .init(status: 301, headers: [("Location", "/new")]) : .init(status: 200, body: "here")
        }
        let record = try await run("jobs:\n  ping: { type: http, url: '\(server.baseURL)/old', method: GET }\n")
        #expect(record.status == .completed)
        #expect(server.requests.map(\.path) == ["/old", "/new"])
    }
}
