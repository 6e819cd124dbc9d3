import BatchdCore
import BatchdTestKit
import Foundation
import Testing

/// What no well-behaved client sends, over raw sockets: bodies and heads over the limits,
/// requests that are not HTTP, clients too slow or idle too long, too many connections.
@Suite("HTTP API limits and protocol errors")
struct APIProtocolTests {
    static let yaml = """
    http: { listen: "127.0.0.1:0", tokenEnv: API_TOKEN, requestTimeout: 500ms, idleTimeout: 1s, maxConnections: 8 }
    history: { fsync: false }
    jobs:
      manual: { type: scripted, enabled: true }
    """

    func json(_ response: RawResponse?) -> JSONValue? {
        response.flatMap { try? JSONParser.parse($0.body) }
    }

    @Test func aBodyOverSixtyFourKiBIsRefusedWith413() async throws {
        let api = try await APIHarness.start(Self.yaml)
        let tooLarge = #"{"success":false,"error":"the request body is larger than 64 KiB"}"#
        let port = api.port
        // Declared too large: answered before any of the body is sent.
        let early = try await OffPool.run {
            try RawConnection.exchange(port: port, "POST /api/batch/trigger HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(APIHarness.token)\r\nContent-Length: 70000\r\n\r\n")
        }
        #expect(early?.status == 413)
        #expect(json(early) == (try JSONParser.parse(tooLarge)))
        #expect(early?.headers["connection"] == "close")
        // Chunked, growing past the limit as it comes.
        let late = try await OffPool.run { () -> RawResponse? in
            let streamed = try RawConnection(port: port)
            streamed.send("POST /api/batch/trigger HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = String(repeating: "a", count: 16_384)
            for _ in 0..<5 { streamed.send(String(16_384, radix: 16) + "\r\n" + chunk + "\r\n") }
            return streamed.receiveResponse()
        }
        #expect(late?.status == 413)
        #expect(await api.engine.runningJobs().isEmpty)
        // A body just under the limit is read (and refused for what it says, not its size).
        let padded = #"{"jobType":"nope","pad":""# + String(repeating: "x", count: 60_000) + #""}"#
        let fits = try await api.post("/api/batch/trigger", padded)
        #expect(fits.status == 404)
        await api.stop()
    }

    @Test func headsOverTheLimitAre431AndGarbageIs400() async throws {
        let api = try await APIHarness.start(Self.yaml)
        let port = api.port
        let huge = try await OffPool.run { try RawConnection.exchange(port: port, "GET /api/batch/status HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 20_000))\r\n\r\n") }
        #expect(huge?.status == 431)
        #expect(json(huge)?["success"] == false)
        let longURL = try await OffPool.run {
            try RawConnection.exchange(port: port, "GET /api/batch/runs?limit=\(String(repeating: "9", count: 10_000)) HTTP/1.1\r\nHost: x\r\n\r\n")
        }
        #expect(longURL?.status == 431)
        for garbage in ["GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "\u{01}\u{02}\u{03}\r\n\r\n", "GET /api/batch/status HTTP/1.1\r\nBad Header\r\n\r\n"] {
            let answer = try await OffPool.run { try RawConnection.exchange(port: port, garbage) }
            #expect(answer?.status == 400, "for \(garbage.debugDescription)")
            #expect(json(answer)?["success"] == false)
            #expect(answer?.bodyText.contains(".swift") == false && answer?.bodyText.contains("/work") == false)
        }
        let absolute = try await OffPool.run {
            try RawConnection.exchange(port: port, "GET http://127.0.0.1/api/batch/status HTTP/1.1\r\nHost: x\r\n\r\n")
        }
        #expect(absolute?.status == 400)
        #expect(json(absolute) == (try JSONParser.parse(#"{"success":false,"error":"the request target must be a path starting with '/'"}"#)))
        // The listener still answers.
        #expect(try await api.get("/healthz").status == 200)
        await api.stop()
    }

    @Test func slowAndIdleClientsAreDropped() async throws {
        let api = try await APIHarness.start(Self.yaml)
        let port = api.port
        let (slowFor, endlessClosed, idleAnswer, idleFor) = try await OffPool.run { () -> (Duration, Bool, Int?, Duration) in
            let clock = ContinuousClock()
            // A request that starts and never finishes: closed at the request timeout (500 ms).
            let slow = try RawConnection(port: port)
            let started = clock.now
            slow.send("GET /api/batch/sta")
            _ = slow.peerClosed()
            let slowFor = clock.now - started
            // A body that never ends, likewise.
            let endless = try RawConnection(port: port)
            endless.send("POST /api/batch/trigger HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"jobType\"")
            let endlessClosed = endless.peerClosed()
            // A kept-alive connection: answered, then closed after the idle timeout (1 s).
            let idle = try RawConnection(port: port)
            idle.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = idle.receiveResponse()?.status
            let answeredAt = clock.now
            _ = idle.peerClosed()
            return (slowFor, endlessClosed, answer, clock.now - answeredAt)
        }
        #expect(slowFor >= .milliseconds(450) && slowFor < .seconds(3), "closed after \(slowFor)")
        #expect(endlessClosed)
        #expect(idleAnswer == 200)
        #expect(idleFor >= .milliseconds(900) && idleFor < .seconds(4), "closed after \(idleFor)")
        await api.stop()
    }

    @Test func connectionsOverTheCapAreAnswered503() async throws {
        let api = try await APIHarness.start(Self.yaml)
        let port = api.port
        let (admittedFirst, refused, admittedAgain) = try await OffPool.run { () -> (Int, RawResponse?, Bool) in
            var held: [RawConnection] = []
            var admitted = 0
            for _ in 0..<8 {
                let connection = try RawConnection(port: port)
                connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if connection.receiveResponse()?.status == 200 { admitted += 1 }  // admitted, and kept alive
                held.append(connection)
            }
            let refused = try RawConnection.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            held.removeAll()  // closing them frees the slots
            var again = false
            for _ in 0..<200 where !again {
                again = try RawConnection.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?.status == 200
            }
            return (admitted, refused, again)
        }
        #expect(admittedFirst == 8)
        #expect(refused?.status == 503)
        #expect(json(refused) == (try JSONParser.parse(#"{"success":false,"error":"too many connections; try again shortly"}"#)))
        #expect(admittedAgain)
        await api.stop()
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let api = try await APIHarness.start(Self.yaml)
        let port = api.port
        let all = try await OffPool.run { () -> [UInt8] in
            let connection = try RawConnection(port: port)
            connection.send("GET /api/batch/runs/7 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return connection.receiveUntilClosed()
        }
        let statuses = String(decoding: all, as: UTF8.self).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { $0.hasPrefix("HTTP/1.1 ") }
        #expect(statuses == ["HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"])
        await api.stop()
    }
}
