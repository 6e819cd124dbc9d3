@testable import BatchdHandlers
import BatchdCore
import BatchdTestKit
import Foundation
import Testing

@Suite("Versions, challenges, rate-limit headers")
struct VersionAndHeaderTests {
    @Test func versionsCompareAsSemanticVersions() throws {
        func v(_ text: String) throws -> SemanticVersion { try #require(SemanticVersion(text), "\(text) parses") }
        #expect(try v("v1.2.3") == v("1.2.3"))
        #expect(try v("release-1.2.3") == v("1.2.3"))
        #expect(try v("gitlab-runner-v17.1.0") > v("v17.0.9"))
        #expect(try v("1.10.0") > v("1.9.9"), "numbers, not strings")
        #expect(try v("1.2") == v("1.2.0"))
        #expect(try v("1.2.3+build.7") == v("1.2.3"), "build metadata is no part of the order")
        #expect(try v("1.2.3-rc.1") < v("1.2.3"))
        #expect(try v("1.2.3-alpha") < v("1.2.3-alpha.1"))
        #expect(try v("1.2.3-alpha.1") < v("1.2.3-alpha.beta"))
        #expect(try v("1.2.3-beta.2") < v("1.2.3-beta.11"))
        #expect(try v("1.2.3rc1") < v("1.2.3"))
        #expect(try v("2024.01.15") > v("2023.12.31"))
        #expect(try v("v11.0.0") < v("11.1.0"), "an older tag is not an update (the seed's string comparison said it was)")
        #expect(try v("1.2.3-rc.1").isPrerelease && !v("1.2.3").isPrerelease)
        for notAVersion in ["latest", "main", "", "stable-alpine", "x.y.z", "v1.2.3-€"] {
            #expect(SemanticVersion(notAVersion) == nil, "\(notAVersion) is not a version")
        }
        #expect(SemanticVersion.newest(of: ["latest", "1.2.0", "1.10.0-rc.1", "1.9.0", "main"], includePrereleases: false)?.original == "1.9.0")
        #expect(SemanticVersion.newest(of: ["1.9.0", "1.10.0-rc.1"], includePrereleases: true)?.original == "1.10.0-rc.1")
    }

    @Test func challengesAreParsedWithQuotesAndCommas() throws {
        let docker = try #require(AuthChallenge(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#))
        #expect(docker.scheme == "bearer" && docker.realm == "https://auth.docker.io/token" && docker.service == "registry.docker.io")
        #expect(docker.scope == "repository:library/nginx:pull,push")
        let spaced = try #require(AuthChallenge(#"Bearer realm = "http://x/token" , service=plain, error="invalid_token""#))
        #expect(spaced.realm == "http://x/token" && spaced.service == "plain" && spaced.parameters["error"] == "invalid_token")
        #expect(AuthChallenge(#"Basic realm="Registry Realm""#)?.scheme == "basic")
        #expect(AuthChallenge(#"Bearer realm="unterminated"#) == nil)
        #expect(AuthChallenge("") == nil)
    }

    @Test func rateLimitHeadersGiveQuotaAndResetTime() throws {
        let now = Timestamp.parse("2026-12-01T10:00:00.000Z")!
        let docker = RateLimit(HTTPResponse(status: 429, headers: [("ratelimit-limit", "100;w=21600"), ("ratelimit-remaining", "0;w=21600"), ("retry-after", "120")], body: []), now: now)
        #expect(docker == RateLimit(limit: 100, remaining: 0, window: 21600, resetAt: now.addingTimeInterval(120)))
        #expect(docker.message(service: "Docker Hub", advice: "Log in.", now: now)
            == "Docker Hub rate limit reached: 0 of 100 requests left in the 6h window; the quota resets at 2026-12-01T10:02:00.000Z (in 2m), when the retry runs. Log in.")
        let github = RateLimit(HTTPResponse(status: 403, headers: [("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1796119200")], body: []), now: now)
        #expect(github.resetAt == Date(timeIntervalSince1970: 1_796_119_200) && github.limit == 60)
        #expect(RateLimit.isExhausted(HTTPResponse(status: 403, headers: [("x-ratelimit-remaining", "0")], body: [])))
        #expect(!RateLimit.isExhausted(HTTPResponse(status: 403, headers: [("x-ratelimit-remaining", "12")], body: [])))
        let dated = RateLimit(HTTPResponse(status: 429, headers: [("retry-after", "Tue, 01 Dec 2026 10:05:00 GMT")], body: []), now: now)
        #expect(dated.resetAt == now.addingTimeInterval(300))
        // batchd parses HTTP dates itself (no DateFormatter in FoundationEssentials).
        #expect(RateLimit.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == Date(timeIntervalSince1970: 784_111_777))
        #expect(RateLimit.httpDate(" Thu, 29 Feb 2024 23:59:60 GMT ") == Date(timeIntervalSince1970: 1_709_251_200))
        for bad in ["Sun, 06 Nov 1994 08:49:37 CET", "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                    "Sun, 06 Nov 1994 24:00:00 GMT", "Sun 06 Nov 1994 08:49:37 GMT", "06 Nov 1994 08:49:37 GMT", "", "120"] {
            #expect(RateLimit.httpDate(bad) == nil, "\(bad)")
        }
        #expect(ReleaseLookup.percentEncoded("group/sub group/app.v2~x") == "group%2Fsub%20group%2Fapp.v2~x")
        #expect(ReleaseLookup.percentEncoded("é") == "%C3%A9")
        #expect(RateLimit(HTTPResponse(status: 429, headers: [], body: []), now: now).message(service: "GitHub", advice: "", now: now)
            .contains("the server gave no reset time"))
    }

    @Test func imagesMapToTheirRegistry() throws {
        let hub = "https://registry-1.docker.io"
        func endpoint(_ text: String) throws -> [String] {
            let endpoint = RegistryEndpoint(try ImageReference(parsing: text), defaultRegistry: hub)
            return [endpoint.baseURL, endpoint.repository, endpoint.isDefaultRegistry ? "default" : "own host"]
        }
        #expect(try endpoint("nginx") == [hub, "library/nginx", "default"])
        #expect(try endpoint("docker.io/nginx:1") == [hub, "library/nginx", "default"])
        #expect(try endpoint("grafana/grafana:11") == [hub, "grafana/grafana", "default"])
        #expect(try endpoint("ghcr.io/o/app:main") == ["https://ghcr.io", "o/app", "own host"])
        #expect(try endpoint("localhost:5000/app") == ["http://localhost:5000", "app", "own host"])
    }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array(String(repeating: "a", count: 1000).utf8)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
