import BatchdCore

/// `tracked-apps-check` ("Tracked Apps Scan"): is there a newer release of an app I run?
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
    }

    public var apps: [App]
    public var tokenEnv: String?
    public var gitlabTokenEnv: String?
    public var githubURL: String
    public var concurrency: Int


    /// The registry/release checks themselves are not built yet (issue 7); until they are, a
    /// run fails saying so instead of pretending to have checked anything.
    public func run(_ context: JobContext) async throws -> JobResult {
        throw JobFailure("\(Self.typeName) checks are not implemented in this version of batchd yet")
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
