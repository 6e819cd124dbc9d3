import BatchdCore
import BatchdTestKit
import Foundation
import Synchronization
import Testing

/// The registry's bearer challenge, token caching, credentials, rate limits and broken answers,
/// against a small token server and registry front on 127.0.0.1 that answers as Docker Hub does.
@Suite("Registry authentication, rate limits and bad answers")
struct RegistryAuthTests {
    /// `/token` hands out tokens per scope (checking basic credentials when given); `/v2/...`
    /// wants a token for the repository, answering 401 with a challenge otherwise. `misbehave`
    /// may answer a request its own way.
    final class Front: Sendable {
        /// What the front saw: the scopes tokens were asked for, how many challenges it sent.
        final class Seen: Sendable {
            let tokens = Mutex<[String]>([])
            let challenges = Mutex(0)
            let port = Mutex<UInt16>(0)
        }

        let server: LoopbackHTTPServer
        private let seen: Seen

        var tokensAsked: [String] { seen.tokens.withLock { $0 } }
        var challengesSent: Int { seen.challenges.withLock { $0 } }

        init(credentials: String? = nil, misbehave: @escaping @Sendable (LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response? = { _ in nil }) throws {
            let seen = Seen()
            self.seen = seen
            server = try LoopbackHTTPServer { request in
                if let special = misbehave(request) { return special }
                let components = URLComponents(string: "http://x\(request.path)")
                if components?.path == "/token" {
                    let scope = components?.queryItems?.first { $0.name == "scope" }?.value ?? ""
                    seen.tokens.withLock { $0.append(scope) }
                    if let credentials {
                        let expected = "Basic " + Data(credentials.utf8).base64EncodedString()
                        guard request.header("Authorization") == expected else { return .init(status: 401, body: #"{"details":"incorrect username or password"}"#) }
                    }
                    let repository = scope.split(separator: ":").dropFirst().first.map(String.init) ?? ""
                    return .init(status: 200, body: #"{"token":"tok-\#(repository)-secret","expires_in":300}"#)
                }
                let parts = (components?.path ?? "").split(separator: "/")  // v2, repository..., manifests, tag
                guard parts.count >= 4, parts[0] == "v2", parts[parts.count - 2] == "manifests" else { return .init(status: 404) }
                let repository = parts[1..<(parts.count - 2)].joined(separator: "/")
                guard request.header("Authorization") == "Bearer tok-\(repository)-secret" else {
                    seen.challenges.withLock { $0 += 1 }
                    let realm = "http://127.0.0.1:\(seen.port.withLock { $0 })/token"
                    return .init(status: 401, headers: [("WWW-Authenticate", #"Bearer realm="\#(realm)",service="front",scope="repository:\#(repository):pull""#)])
                }
                if repository == "limited/app" {
                    return .init(status: 429, headers: [("RateLimit-Limit", "100;w=21600"), ("RateLimit-Remaining", "0;w=21600"), ("Retry-After", "300")],
                                 body: #"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#)
                }
                let digest = "sha256:" + SHA256.hex(Array("\(repository):\(parts.last!)".utf8))
                return .init(status: 200, headers: [("Docker-Content-Digest", digest)])
            }
            let port = server.port
            seen.port.withLock { $0 = port }
        }
    }

    func yaml(_ front: Front, images: [String], concurrency: Int = 3, credentials: Bool = false) -> String {
        """
        history: { fsync: false }
        jobs:
          docker-hub-pull:
            enabled: true
            registry: \(front.server.baseURL)
            concurrency: \(concurrency)
            requestTimeout: 1s
            images: [\(images.map { "'\($0)'" }.joined(separator: ", "))]
        \(credentials ? "    usernameEnv: HUB_USER\n    passwordEnv: HUB_PASSWORD" : "")
        """
    }

    @Test func theBearerChallengeIsFollowedAndTokensAreCachedPerScope() async throws {
        let front = try Front()
        let harness = try CheckerHarness(yaml(front, images: ["team/x:1", "team/x:2", "team/y:1", "team/x:3"]))
        let first = try await harness.run("docker-hub-pull")
        #expect(first.record.status == .completed && first.record.itemsChecked == 4)
        #expect(first.record.result["images"]?.list.first?["digest"]?.stringValue == "sha256:" + SHA256.hex(Array("team/x:1".utf8)))
        #expect(front.tokensAsked.sorted() == ["repository:team/x:pull", "repository:team/y:pull"], "one token request per scope, also for checks that started together")
        let challengesBefore = front.challengesSent
        let second = try await harness.run("docker-hub-pull")
        #expect(second.record.itemsChecked == 4)
        #expect(front.tokensAsked.count == 2, "the next run uses the cached tokens")
        #expect(front.challengesSent == challengesBefore, "requests carry their token from the start")
    }

    @Test func onceTheTokenServiceIsKnownNewRepositoriesGetTheirTokenFirst() async throws {
        let front = try Front()
        let harness = try CheckerHarness(yaml(front, images: ["team/a:1", "team/b:1", "team/c:1"], concurrency: 1))
        let run = try await harness.run("docker-hub-pull")
        #expect(run.record.itemsChecked == 3)
        #expect(front.tokensAsked == ["repository:team/a:pull", "repository:team/b:pull", "repository:team/c:pull"])
        #expect(front.challengesSent == 1, "only the first request meets a challenge; it says where tokens come from")
    }

    @Test func credentialsGoToTheTokenServiceAndNoSecretIsWrittenAnywhere() async throws {
        let front = try Front(credentials: "hubuser:hunter2-password")
        let harness = try CheckerHarness(yaml(front, images: ["team/x:1"], credentials: true))
        let environment = ["HUB_USER": "hubuser", "HUB_PASSWORD": "hunter2-password"]
        let run = try await harness.run("docker-hub-pull", environment: environment)
        #expect(run.record.status == .completed, "\(run.record.error ?? "")")
        for secret in ["hunter2-password", "tok-team/x-secret", Data("hubuser:hunter2-password".utf8).base64EncodedString()] {
            #expect(!run.historyText.contains(secret), "the history line has no \(secret)")
            #expect(!run.stateText.contains(secret), "the state file has no \(secret)")
            #expect(!run.log.contains { $0.contains(secret) }, "no log line has \(secret)")
        }
        // Wrong credentials (a job without a token cached yet): the token service refuses, and
        // the message says where to look.
        let fresh = try CheckerHarness(yaml(front, images: ["team/x:1"], credentials: true))
        let wrong = try await fresh.run("docker-hub-pull", environment: ["HUB_USER": "hubuser", "HUB_PASSWORD": "nope"])
        #expect(wrong.record.status == .failed)
        #expect(wrong.record.error == "every image failed (1); the first: the token service refused the credentials (usernameEnv/passwordEnv) for repository:team/x:pull")
        // An unset variable fails before any request, naming the variable.
        let unset = try await harness.run("docker-hub-pull", environment: ["HUB_USER": "hubuser"])
        #expect(unset.record.error == "passwordEnv names HUB_PASSWORD, which is not set in batchd's environment")
    }

    @Test func aRateLimitStopsTheRunKeepsWhatWasGatheredAndWaitsForTheReset() async throws {
        let front = try Front()
        let harness = try CheckerHarness(yaml(front, images: ["team/x:1", "limited/app:1", "team/x:2"], concurrency: 1))
        let run = try await harness.run("docker-hub-pull")
        #expect(run.record.status == .failed)
        let error = try #require(run.record.error)
        #expect(error.hasPrefix("The registry rate limit reached: 0 of 100 requests left in the 6h window; the quota resets at "))
        #expect(error.contains("(in 5m), when the retry runs. Set usernameEnv and passwordEnv for a higher quota, or check less often. Checked 1 of 3 image(s) before the limit."))
        #expect(run.record.itemsChecked == 1)
        #expect(run.record.result["images"]?.list.map { $0["status"] } == ["new", "rate-limited", "not-checked"])
        #expect(run.state?["digests"]?["team/x:1"] != nil, "what was gathered is kept")
        let failure = try #require(try await harness.failure(of: "docker-hub-pull"))
        let wait = try #require(failure.retryNotBefore).timeIntervalSinceNow
        #expect(wait > 290 && wait <= 300, "the retry waits for the reset, not the retry policy's 1m")
    }

    @Test func badAnswersAreErrorsOfTheirImageNeverACrash() async throws {
        let front = try Front { request in
            switch request.path {
            case let path where path.contains("/v2/broken/nodigest/"): .init(status: 200)
            case let path where path.contains("/v2/broken/baddigest/"): .init(status: 200, headers: [("Docker-Content-Digest", "sha256:not-hex")])
            case let path where path.contains("/v2/broken/silent/"): .init(status: 200, behaviour: .silence)
            case let path where path.contains("/v2/broken/html/"): .init(status: 502, body: "<html><body>Bad gateway</body></html>")
            case let path where path.contains("/v2/broken/oddchallenge/"): .init(status: 401, headers: [("WWW-Authenticate", "Negotiate")])
            case let path where path.contains("/v2/broken/notokenjson/"):
                .init(status: 401, headers: [("WWW-Authenticate", #"Bearer realm="http://127.0.0.1:1/nowhere""#)])
            default: nil
            }
        }
        let images = ["broken/nodigest:1", "broken/baddigest:1", "broken/silent:1", "broken/html:1", "broken/oddchallenge:1", "broken/notokenjson:1", "team/x:1"]
        let harness = try CheckerHarness(yaml(front, images: images, concurrency: 7))
        let run = try await harness.run("docker-hub-pull")
        #expect(run.record.status == .completed, "one good image: the run completes with the errors counted; \(run.historyText)")
        #expect(run.record.itemsChecked == 1 && run.record.result["errorCount"] == 6)
        let errors = Dictionary(uniqueKeysWithValues: (run.record.result["errors"]?.list ?? []).map { ($0["image"]!.stringValue!, $0["error"]!.stringValue!) })
        #expect(errors["broken/nodigest:1"] == "the registry answered without a Docker-Content-Digest header for broken/nodigest:1")
        #expect(errors["broken/baddigest:1"] == "the registry's Docker-Content-Digest 'sha256:not-hex' for broken/baddigest:1 is not a digest (expected sha256: and 64 hex digits)")
        #expect(errors["broken/silent:1"]?.hasSuffix("no answer within 1s") == true)
        #expect(errors["broken/html:1"] == "broken/html:1: the registry answered 502", "a HEAD has no body to quote")
        #expect(errors["broken/oddchallenge:1"] == "the registry answered 401 for broken/oddchallenge without a challenge batchd knows (WWW-Authenticate: Negotiate)")
        #expect(errors["broken/notokenjson:1"]?.contains("Couldn't connect to server") == true, "a token realm nobody answers: \(errors["broken/notokenjson:1"] ?? "")")
    }

    @Test func aTLSErrorIsTheImagesErrorToo() async throws {
        // https:// to a server that speaks plain HTTP: the TLS handshake fails.
        let plain = try LoopbackHTTPServer(greeting: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") { _ in .init(status: 200) }
        let harness = try CheckerHarness("""
        jobs:
          docker-hub-pull: { enabled: true, registry: 'https://127.0.0.1:\(plain.port)', requestTimeout: 2s, images: [team/x:1] }
        """)
        let run = try await harness.run("docker-hub-pull")
        #expect(run.record.status == .failed)
        let error = try #require(run.record.error)
        #expect(error.hasPrefix("every image failed (1); the first: https://127.0.0.1:\(plain.port)/v2/team/x/manifests/1: "))
        #expect(error.contains("SSL") || error.contains("TLS"), "\(error)")
    }

    @Test func aTokenServiceThatAnswersGarbageOrHangsUp() async throws {
        let front = try Front { request in
            guard request.path.hasPrefix("/token") else { return nil }
            if request.path.contains("garbage") { return .init(status: 200, body: "<html>login page</html>") }
            if request.path.contains("cut") { return .init(status: 200, body: #"{"token":"tok-cut-secret","expires_in":300}"#, behaviour: .hangUp(afterBodyBytes: 10)) }
            return nil
        }
        let harness = try CheckerHarness(yaml(front, images: ["garbage/app:1", "cut/app:1"]))
        let run = try await harness.run("docker-hub-pull")
        #expect(run.record.status == .failed)
        let errors = (run.record.result["errors"]?.list ?? []).compactMap { $0["error"]?.stringValue }
        #expect(errors.contains("the token service's answer is not JSON with a \"token\": <html>login page</html>"))
        #expect(errors.contains { $0.contains("/token") && ($0.contains("Transferred a partial file") || $0.contains("closed")) }, "\(errors)")
    }
}
