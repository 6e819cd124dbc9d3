import BatchdCore
import FoundationEssentials
import Glibc

/// `tracked-apps-check` ("Tracked Apps Scan"): is there a newer release of an app I run?
///
/// Each app's newest release comes from GitHub, GitLab or a registry's tags, and is compared
/// with `current` as a semantic version (so a tag older than `current` is never an update).
/// GitHub and GitLab are asked with the ETag of the last answer: an unchanged answer (304)
/// costs no quota. One app's error is counted and the others are still checked; the run fails
/// only when every app failed. A rate limit (GitHub's 403 or 429 with no requests left) stops
/// the run, keeps what was gathered, and the retry waits for the reset.
public struct TrackedAppsCheckJob: JobHandler {
    public static let typeName = "tracked-apps-check"
    public static let displayName = "Tracked Apps Scan"

    public struct App: Sendable, Hashable {
        public enum Source: Sendable, Hashable {
            case github(repository: String)
            case gitlab(project: String, baseURL: String)
            case image(ImageReference, registry: String)
        }

        public var name: String
        public var source: Source
        public var current: String
        public var includePrereleases: Bool

        /// How the source is named in results and in the state file.
        var sourceName: String {
            switch source {
            case .github(let repository): "github:\(repository)"
            case .gitlab(let project, let baseURL): "gitlab:\(project)@\(baseURL)"
            case .image(let image, let registry): "image:\(image.original)@\(registry)"
            }
        }
    }

    public var apps: [App]
    public var tokenEnv: String?
    public var gitlabTokenEnv: String?
    public var githubURL: String
    public var concurrency: Int
    /// How long one request to a source may take.
    public var requestTimeout: Duration
    /// Registry tokens for `image:` sources, kept across runs until they expire.
    let tokens = TokenCache()

    /// What one app's check found: the newest tag (and the ETag to keep), or why there is none.
    enum Check: Sendable {
        case newest(tag: String, etag: String?, unchanged: Bool)
        case failed(RemoteFailure)
    }

    public func run(_ context: JobContext) async throws -> JobResult {
        let githubToken = try EnvironmentSecret.value(of: tokenEnv, key: "tokenEnv", in: context)
        let gitlabToken = try EnvironmentSecret.value(of: gitlabTokenEnv, key: "gitlabTokenEnv", in: context)
        let stored = ReleaseState(context.state.read())
        let apps = self.apps, githubURL = self.githubURL, tokens = self.tokens, timeout = requestTimeout
        let logger = context.logger
        logger.info("checking \(apps.count) app(s), \(concurrency) at a time")

        let checks = await BoundedConcurrency.map(count: apps.count, limit: concurrency, stop: { check in
            if case .failed(let failure) = check { return failure.isRateLimit }
            return false
        }) { index -> Check in
            let app = apps[index]
            let cached = stored.apps[app.name].flatMap { $0.source == app.sourceName ? $0 : nil }
            do throws(RemoteFailure) {
                let answer: ReleaseLookup.Answer
                switch app.source {
                case .github(let repository):
                    answer = try await ReleaseLookup.github(repository, baseURL: githubURL, token: githubToken, includePrereleases: app.includePrereleases,
                                                            etag: cached?.etag, timeout: timeout)
                case .gitlab(let project, let baseURL):
                    answer = try await ReleaseLookup.gitlab(project, baseURL: baseURL, token: gitlabToken, includePrereleases: app.includePrereleases,
                                                            etag: cached?.etag, timeout: timeout)
                case .image(let image, let registry):
                    let tags = try await ReleaseLookup.image(image, registry: registry, tokens: tokens, timeout: timeout)
                    guard let newest = SemanticVersion.newest(of: tags, includePrereleases: app.includePrereleases) else {
                        throw .notFound("none of the \(tags.count) tag(s) of \(image.repository) is a version")
                    }
                    answer = .newest(tag: newest.original, etag: nil)
                }
                switch answer {
                case .newest(let tag, let etag): return .newest(tag: tag, etag: etag, unchanged: false)
                case .unchanged:
                    guard let cached else { throw .badAnswer("the source answered 304 Not Modified to a request that was not conditional") }
                    return .newest(tag: cached.latest, etag: cached.etag, unchanged: true)
                }
            } catch {
                return .failed(error)
            }
        }
        try Task.checkCancellation()  // a timeout or `cancel`: the runner says which

        var next = ReleaseState()
        var report: [JSONValue] = [], updates: [JSONValue] = [], errors: [JSONValue] = []
        var checked = 0
        var rateLimit: (RateLimit, App)?
        for (app, check) in zip(apps, checks) {
            switch check {
            case .newest(let tag, let etag, let unchanged)?:
                next.apps[app.name] = .init(source: app.sourceName, latest: tag, etag: etag)
                guard let current = SemanticVersion(app.current), let latest = SemanticVersion(tag) else {
                    let message = SemanticVersion(app.current) == nil
                        ? "current '\(app.current)' is not a version batchd can compare (e.g. 1.2.3 or v1.2.3)"
                        : "the newest tag '\(tag)' is not a version batchd can compare"
                    logger.error("\(app.name): \(message)", metadata: ["app": "\(app.name)"])
                    errors.append(["app": .string(app.name), "error": .string(message)])
                    report.append(["name": .string(app.name), "source": .string(app.sourceName), "current": .string(app.current),
                                   "latest": .string(tag), "status": "error", "error": .string(message)])
                    continue
                }
                checked += 1
                let newer = latest > current
                if newer {
                    updates.append(["app": .string(app.name), "current": .string(app.current), "latest": .string(tag)])
                    logger.info("\(app.name): \(tag) is newer than \(app.current)", metadata: ["app": "\(app.name)"])
                } else {
                    logger.debug("\(app.name): \(tag) (current \(app.current))\(unchanged ? ", unchanged since the last check" : "")", metadata: ["app": "\(app.name)"])
                }
                report.append(["name": .string(app.name), "source": .string(app.sourceName), "current": .string(app.current),
                               "latest": .string(tag), "updateAvailable": .bool(newer), "notModified": .bool(unchanged)])
            case .failed(.rateLimited(let limit))?:
                rateLimit = rateLimit ?? (limit, app)
                if let old = stored.apps[app.name] { next.apps[app.name] = old }
                report.append(["name": .string(app.name), "source": .string(app.sourceName), "status": "rate-limited"])
            case .failed(let failure)?:
                if let old = stored.apps[app.name] { next.apps[app.name] = old }
                logger.error("\(app.name): \(failure.message)", metadata: ["app": "\(app.name)"])
                errors.append(["app": .string(app.name), "error": .string(failure.message)])
                report.append(["name": .string(app.name), "source": .string(app.sourceName), "status": "error", "error": .string(failure.message)])
            case nil:
                if let old = stored.apps[app.name] { next.apps[app.name] = old }
                report.append(["name": .string(app.name), "source": .string(app.sourceName), "status": "not-checked"])
            }
        }
        do {
            try context.state.write(next.json)
        } catch {
            logger.error("cannot save the releases seen: \(error); the next run asks unconditionally")
        }
        let result = JobResult(itemsChecked: checked, itemsUpdated: updates.count, result: [
            "updates": .array(updates), "errors": .array(errors), "errorCount": .int(Int64(errors.count)), "apps": .array(report),
        ])
        if let (limit, app) = rateLimit {
            let (service, advice): (String, String)
            switch app.source {
            case .github:
                service = "GitHub"
                advice = githubToken == nil ? "Set tokenEnv to a GitHub token (5,000 requests an hour instead of 60), or check less often."
                                            : "Check less often, or spread jobs with jitter."
            case .gitlab: (service, advice) = ("GitLab", "Check less often, or set gitlabTokenEnv.")
            case .image: (service, advice) = ("The registry", "Check less often, or spread jobs with jitter.")
            }
            throw JobFailure("\(limit.message(service: service, advice: advice, now: Date())) Checked \(checked) of \(apps.count) app(s) before the limit.",
                             partial: result, retryNotBefore: limit.resetAt)
        }
        if checked == 0, !errors.isEmpty {
            throw JobFailure("every app failed (\(errors.count)); the first: \(errors.first?["error"]?.stringValue ?? "")", partial: result)
        }
        logger.info("checked \(checked) app(s): \(updates.count) with a newer release, \(errors.count) error(s)")
        return result
    }

    public var publicSettings: [(String, JSONValue)] {
        var settings: [(String, JSONValue)] = [
            ("apps", .array(apps.map { app in
                var fields: [(String, JSONValue)] = [("name", .string(app.name))]
                switch app.source {
                case .github(let repository): fields.append(("github", .string(repository)))
                case .gitlab(let project, let baseURL): fields += [("gitlab", .string(project)), ("gitlabURL", .string(baseURL))]
                case .image(let image, let registry): fields += [("image", .string(image.original)), ("registry", .string(registry))]
                }
                fields += [("current", .string(app.current)), ("prerelease", .bool(app.includePrereleases))]
                return .object(fields)
            })),
            ("githubURL", .string(githubURL)), ("concurrency", .int(Int64(concurrency))),
            ("requestTimeout", .string(DurationText.format(requestTimeout))),
        ]
        if let tokenEnv { settings.append(("tokenEnv", .string(tokenEnv))) }
        if let gitlabTokenEnv { settings.append(("gitlabTokenEnv", .string(gitlabTokenEnv))) }
        return settings
    }

    public init?(settings: ConfigMapping) {
        let appsValue = settings.required("apps", "a list of { name, github | gitlab | image, current }")
        tokenEnv = settings.value("tokenEnv")?.asEnvironmentName()
        gitlabTokenEnv = settings.value("gitlabTokenEnv")?.asEnvironmentName()
        githubURL = settings.value("githubURL")?.asHTTPURL() ?? "https://api.github.com"
        let defaultRegistry = settings.value("registry")?.asHTTPURL() ?? "https://registry-1.docker.io"
        concurrency = settings.value("concurrency")?.asInt(in: 1...64) ?? 4
        requestTimeout = settings.value("requestTimeout")?.asDuration(atLeast: .milliseconds(100)) ?? .seconds(30)
        var apps: [App] = []
        var ok = true
        if let list = appsValue?.asList() {
            if list.isEmpty {
                appsValue?.error("the list of apps is empty")
                ok = false
            }
            var names = Set<String>()
            for item in list {
                guard let mapping = item.asMapping(), let app = Self.decodeApp(mapping, defaultRegistry: defaultRegistry) else {
                    ok = false
                    continue
                }
                if !names.insert(app.name).inserted {
                    mapping.value("name")?.error("another app in this list is already named '\(app.name)'")
                    ok = false
                }
                apps.append(app)
            }
        } else {
            ok = false
        }
        self.apps = apps
        guard ok else { return nil }
    }

    private static func decodeApp(_ app: ConfigMapping, defaultRegistry: String) -> App? {
        let name = app.required("name", "how the app is called in results")?.asNonEmptyString()
        let current = app.required("current", "the version you run now, e.g. 11.0.0")?.asNonEmptyString()
        let github = app.value("github")
        let gitlab = app.value("gitlab")
        let image = app.value("image")
        let gitlabURL = app.value("gitlabURL")?.asHTTPURL() ?? "https://gitlab.com"
        let registry = app.value("registry")?.asHTTPURL() ?? defaultRegistry
        let prerelease = app.value("prerelease")?.asBool() ?? false
        app.reportUnknownKeys()

        let sources = [github, gitlab, image].compactMap { $0 }
        guard sources.count == 1 else {
            if sources.count > 1 {
                sources[1].error("an app has exactly one source: github, gitlab or image")
            } else {
                app.error("an app needs a source: 'github: owner/repo', 'gitlab: group/project' or 'image: namespace/repo'")
            }
            return nil
        }
        let source: App.Source
        if let github {
            guard let text = github.asNonEmptyString() else { return nil }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
                github.error("expected owner/repository (got '\(text)')")
                return nil
            }
            source = .github(repository: text)
        } else if let gitlab {
            guard let text = gitlab.asNonEmptyString() else { return nil }
            guard text.contains("/") || Int(text) != nil, !text.hasPrefix("/"), !text.hasSuffix("/") else {
                gitlab.error("expected group/project or a numeric project id (got '\(text)')")
                return nil
            }
            source = .gitlab(project: text, baseURL: gitlabURL)
        } else {
            guard let image, let text = image.asNonEmptyString() else { return nil }
            do {
                source = .image(try ImageReference(parsing: text), registry: registry)
            } catch {
                if case .invalid(let message) = error { image.error(message) }
                return nil
            }
        }
        guard let name, let current else { return nil }
        return App(name: name, source: source, current: current, includePrereleases: prerelease)
    }
}
