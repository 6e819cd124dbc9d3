import BatchdCore
import BatchdTestKit
import Foundation
import Synchronization
import Testing

/// tracked-apps-check against local servers answering with GitHub's and GitLab's JSON shapes
/// (drafts, prereleases, ETag/304, the 403 rate limit), and a real registry's tag list.
@Suite("tracked-apps-check against GitHub, GitLab and a registry")
struct ReleaseCheckTests {
    /// A GitHub API: the releases of a few repositories, ETags, a rate-limited repository.
    final class GitHub: Sendable {
        final class Seen: Sendable {
            let requests = Mutex<[LoopbackHTTPServer.Request]>([])
        }

        let server: LoopbackHTTPServer
        private let seen = Seen()

        init(token: String? = nil) throws {
            let seen = self.seen
            server = try LoopbackHTTPServer { request in
                seen.requests.withLock { $0.append(request) }
                if let token, request.header("Authorization") != "Bearer \(token)" {
                    return .init(status: 401, body: #"{"message":"Bad credentials"}"#)
                }
                switch request.path {
                case "/repos/grafana/grafana/releases/latest":
                    let etag = #"W/"grafana-11.2.0""#
                    if request.header("If-None-Match") == etag { return .init(status: 304, headers: [("ETag", etag)]) }
                    return .init(status: 200, headers: [("ETag", etag), ("Content-Type", "application/json")],
                                 body: #"{"url":"x","tag_name":"v11.2.0","name":"11.2.0","draft":false,"prerelease":false,"published_at":"2026-11-20T10:00:00Z"}"#)
                case "/repos/acme/tool/releases?per_page=100":
                    return .init(status: 200, body: """
                    [{"tag_name":"v3.0.0","draft":true,"prerelease":false},
                     {"tag_name":"v3.0.0-rc.2","draft":false,"prerelease":true},
                     {"tag_name":"v2.9.0","draft":false,"prerelease":false},
                     {"tag_name":"nightly","draft":false,"prerelease":true}]
                    """)
                case "/repos/acme/limited/releases/latest":
                    return .init(status: 403, headers: [("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "\(Int(Date().timeIntervalSince1970) + 1200)")],
                                 body: #"{"message":"API rate limit exceeded for 127.0.0.1."}"#)
                case "/repos/acme/missing/releases/latest": return .init(status: 404, body: #"{"message":"Not Found"}"#)
                case "/repos/acme/garbage/releases/latest": return .init(status: 200, body: "<html>maintenance</html>")
                case "/repos/acme/cut/releases/latest":
                    return .init(status: 200, body: #"{"tag_name":"v1.0.0","draft":false,"prerelease":false}"#, behaviour: .hangUp(afterBodyBytes: 12))
                case "/repos/acme/silent/releases/latest": return .init(status: 200, behaviour: .silence)
                default: return .init(status: 404, body: #"{"message":"Not Found"}"#)
                }
            }
        }

        var requests: [LoopbackHTTPServer.Request] { seen.requests.withLock { $0 } }
    }

    func yaml(githubURL: String, apps: [String], extra: String = "") -> String {
        """
        history: { fsync: false }
        jobs:
          tracked-apps-check:
            enabled: true
            githubURL: \(githubURL)
            requestTimeout: 1s
        \(extra)
            apps:
        \(apps.map { "      - \($0)" }.joined(separator: "\n"))
        """
    }

    @Test func newerReleasesAreUpdatesOlderOnesAreNot() async throws {
        let github = try GitHub()
        let harness = try CheckerHarness(yaml(githubURL: github.server.baseURL, apps: [
            "{ name: grafana, github: grafana/grafana, current: 11.0.0 }",
            "{ name: grafana-ahead, github: grafana/grafana, current: v12.0.0 }",
            "{ name: tool, github: acme/tool, current: 2.9.0, prerelease: true }",
            "{ name: tool-stable, github: acme/tool, current: 2.9.0 }",
        ]))
        let run = try await harness.run("tracked-apps-check")
        #expect(run.record.status == .completed)
        #expect(run.record.itemsChecked == 3 && run.record.itemsUpdated == 2)
        #expect(run.record.result["updates"] == [
            ["app": "grafana", "current": "11.0.0", "latest": "v11.2.0"],
            ["app": "tool", "current": "2.9.0", "latest": "v3.0.0-rc.2"],
        ], "a newer version than current is an update; the draft v3.0.0 is skipped; v12 ahead of v11.2 is not a downgrade")
        #expect(run.record.result["errors"]?.list.first?["app"] == "tool-stable", "acme/tool has no published non-prerelease latest")
        let asked = github.requests.first { $0.path == "/repos/grafana/grafana/releases/latest" }
        #expect(asked?.header("Accept") == "application/vnd.github+json" && asked?.header("X-GitHub-Api-Version") == "2022-11-28")
    }

    @Test func anUnchangedAnswerIsA304ThatCostsNoQuota() async throws {
        let github = try GitHub()
        let harness = try CheckerHarness(yaml(githubURL: github.server.baseURL, apps: ["{ name: grafana, github: grafana/grafana, current: 11.0.0 }"]))
        let first = try await harness.run("tracked-apps-check")
        #expect(first.record.result["apps"]?.list.first?["notModified"] == false)
        #expect(first.state?["apps"]?["grafana"]?["etag"] == #"W/"grafana-11.2.0""#)
        let second = try await harness.run("tracked-apps-check")
        #expect(github.requests.last?.header("If-None-Match") == #"W/"grafana-11.2.0""#)
        #expect(second.record.result["apps"]?.list.first?["notModified"] == true)
        #expect(second.record.result["updates"] == [["app": "grafana", "current": "11.0.0", "latest": "v11.2.0"]], "the 304 keeps the answer from last time")
    }

    @Test func gitHubsRateLimitStopsTheRunAndTheRetryWaitsForTheReset() async throws {
        let github = try GitHub()
        let harness = try CheckerHarness(yaml(githubURL: github.server.baseURL, apps: [
            "{ name: grafana, github: grafana/grafana, current: 11.0.0 }",
            "{ name: limited, github: acme/limited, current: 1.0.0 }",
            "{ name: later, github: grafana/grafana, current: 1.0.0 }",
        ], extra: "    concurrency: 1"))
        let run = try await harness.run("tracked-apps-check")
        #expect(run.record.status == .failed)
        let error = try #require(run.record.error)
        #expect(error.hasPrefix("GitHub rate limit reached: 0 of 60 requests left; the quota resets at "))
        #expect(error.hasSuffix("Set tokenEnv to a GitHub token (5,000 requests an hour instead of 60), or check less often. Checked 1 of 3 app(s) before the limit."))
        #expect(run.record.result["apps"]?.list.map { $0["status"] ?? "checked" } == ["checked", "rate-limited", "not-checked"])
        let failure = try #require(try await harness.failure(of: "tracked-apps-check"))
        let wait = try #require(failure.retryNotBefore).timeIntervalSinceNow
        #expect(wait > 1100 && wait <= 1200)
    }

    @Test func badAnswersAreErrorsOfTheirApp() async throws {
        let github = try GitHub()
        let harness = try CheckerHarness(yaml(githubURL: github.server.baseURL, apps: [
            "{ name: missing, github: acme/missing, current: 1.0.0 }",
            "{ name: garbage, github: acme/garbage, current: 1.0.0 }",
            "{ name: cut, github: acme/cut, current: 1.0.0 }",
            "{ name: silent, github: acme/silent, current: 1.0.0 }",
            "{ name: weird, github: grafana/grafana, current: latest }",
            "{ name: grafana, github: grafana/grafana, current: 11.0.0 }",
        ], extra: "    concurrency: 6"))
        let run = try await harness.run("tracked-apps-check")
        #expect(run.record.status == .completed && run.record.itemsChecked == 1 && run.record.result["errorCount"] == 5)
        let errors = Dictionary(uniqueKeysWithValues: (run.record.result["errors"]?.list ?? []).map { ($0["app"]!.stringValue!, $0["error"]!.stringValue!) })
        #expect(errors["missing"] == "GitHub has no published release of acme/missing (or no such repository)")
        #expect(errors["garbage"] == "GitHub's answer for acme/garbage is not JSON: <html>maintenance</html>")
        #expect(errors["cut"]?.contains("Transferred a partial file") == true, "\(errors["cut"] ?? "")")
        #expect(errors["silent"]?.hasSuffix("no answer within 1s") == true)
        #expect(errors["weird"] == "current 'latest' is not a version batchd can compare (e.g. 1.2.3 or v1.2.3)")
    }

    @Test func theGitHubTokenIsSentAndNeverWritten() async throws {
        let github = try GitHub(token: "ghp_supersecret123")
        let harness = try CheckerHarness(yaml(githubURL: github.server.baseURL, apps: ["{ name: grafana, github: grafana/grafana, current: 11.0.0 }"],
                                              extra: "    tokenEnv: GITHUB_TOKEN"))
        let run = try await harness.run("tracked-apps-check", environment: ["GITHUB_TOKEN": "ghp_supersecret123"])
        #expect(run.record.status == .completed && run.record.itemsUpdated == 1)
        #expect(!run.historyText.contains("ghp_supersecret123") && !run.stateText.contains("ghp_supersecret123"))
        #expect(!run.log.contains { $0.contains("ghp_supersecret123") })
    }

    @Test func gitLabReleasesSkipUpcomingAndPrereleases() async throws {
        let gitlab = try LoopbackHTTPServer { request in
            guard request.path == "/api/v4/projects/gitlab-org%2Fgitlab-runner/releases?per_page=100" else { return .init(status: 404, body: #"{"message":"404 Project Not Found"}"#) }
            guard request.header("PRIVATE-TOKEN") == "glpat-secret" else { return .init(status: 401, body: #"{"message":"401 Unauthorized"}"#) }
            return .init(status: 200, body: """
            [{"tag_name":"v18.0.0","released_at":"2027-01-01T00:00:00Z","upcoming_release":true},
             {"tag_name":"v17.3.0-rc1","released_at":"2026-11-25T00:00:00Z","upcoming_release":false},
             {"tag_name":"v17.2.0","released_at":"2026-11-20T00:00:00Z","upcoming_release":false},
             {"tag_name":"v17.1.0","released_at":"2026-10-20T00:00:00Z","upcoming_release":false}]
            """)
        }
        let harness = try CheckerHarness(yaml(githubURL: "http://127.0.0.1:1", apps: [
            "{ name: runner, gitlab: gitlab-org/gitlab-runner, gitlabURL: '\(gitlab.baseURL)', current: v17.1.0 }",
            "{ name: nowhere, gitlab: nobody/nothing, gitlabURL: '\(gitlab.baseURL)', current: 1.0.0 }",
        ], extra: "    gitlabTokenEnv: GITLAB_TOKEN"))
        let run = try await harness.run("tracked-apps-check", environment: ["GITLAB_TOKEN": "glpat-secret"])
        #expect(run.record.result["updates"] == [["app": "runner", "current": "v17.1.0", "latest": "v17.2.0"]])
        #expect(run.record.result["errors"]?.list.first?["error"] == .string("GitLab at \(gitlab.baseURL) has no project nobody/nothing (or it is private: set gitlabTokenEnv)"))
    }

    @Test func anImageSourceTakesTheHighestVersionTag() async throws {
        try #require(LocalRegistry.isInstalled, "docker-registry (Debian's package) is installed by scripts/install-deps --test")
        let registry = try await OffPool.run { try LocalRegistry() }
        for tag in ["1.0.0", "1.2.0", "1.10.0-rc.1", "latest", "main"] { try await registry.pushed("acme/server", tag: tag, content: tag) }
        let harness = try CheckerHarness(yaml(githubURL: "http://127.0.0.1:1", apps: [
            "{ name: server, image: acme/server, registry: '\(registry.baseURL)', current: 1.1.0 }",
            "{ name: server-edge, image: acme/server, registry: '\(registry.baseURL)', current: 1.2.0, prerelease: true }",
        ]))
        let run = try await harness.run("tracked-apps-check")
        #expect(run.record.result["updates"] == [
            ["app": "server", "current": "1.1.0", "latest": "1.2.0"],
            ["app": "server-edge", "current": "1.2.0", "latest": "1.10.0-rc.1"],
        ])
    }
}
