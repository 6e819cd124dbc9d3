import BatchdCore

/// `docker-hub-pull` ("Docker Hub Scan"): is there a new image behind a tag?
public struct DockerHubPullJob: JobHandler {
    public static let typeName = "docker-hub-pull"
    public static let displayName = "Docker Hub Scan"

    public var images: [ImageReference]
    /// Base URL for references without a host.
    public var registry: String
    public var usernameEnv: String?
    public var passwordEnv: String?
    public var concurrency: Int


    /// The registry/release checks themselves are not built yet (issue 7); until they are, a
    /// run fails saying so instead of pretending to have checked anything.
    public func run(_ context: JobContext) async throws -> JobResult {
        throw JobFailure("\(Self.typeName) checks are not implemented in this version of batchd yet")
    }

    public var publicSettings: [(String, JSONValue)] {
        var settings: [(String, JSONValue)] = [
            ("images", .array(images.map { .string($0.original) })), ("registry", .string(registry)),
            ("concurrency", .int(Int64(concurrency))),
        ]
        if let usernameEnv { settings.append(("usernameEnv", .string(usernameEnv))) }
        if let passwordEnv { settings.append(("passwordEnv", .string(passwordEnv))) }
        return settings
    }

    public init?(settings: ConfigMapping) {
        let imagesValue = settings.required("images", "a list of image references such as nginx:latest")
        registry = settings.value("registry")?.asHTTPURL() ?? "https://registry-1.docker.io"
        usernameEnv = settings.value("usernameEnv")?.asEnvironmentName()
        passwordEnv = settings.value("passwordEnv")?.asEnvironmentName()
        concurrency = settings.value("concurrency")?.asInt(in: 1...64) ?? 4
        if (usernameEnv == nil) != (passwordEnv == nil), settings.contains("usernameEnv") != settings.contains("passwordEnv") {
            settings.error("set both 'usernameEnv' and 'passwordEnv', or neither")
        }
        var images: [ImageReference] = []
        var ok = true
        if let list = imagesValue?.asList() {
            if list.isEmpty {
                imagesValue?.error("the list of images is empty")
                ok = false
            }
            for item in list {
                guard let text = item.asNonEmptyString() else { ok = false; continue }
                do {
                    images.append(try ImageReference(parsing: text))
                } catch {
                    if case .invalid(let message) = error { item.error(message) }
                    ok = false
                }
            }
        } else {
            ok = false
        }
        self.images = images
        guard ok else { return nil }
    }
}
