import BatchdCore
import FoundationEssentials
import Glibc

/// `docker-hub-pull` ("Docker Hub Scan"): is there a new image behind a tag?
///
/// For each image, a `HEAD` of its manifest gives the digest the tag points at now (a HEAD is
/// not counted as a pull by Docker Hub). It is compared with the pinned digest (`name@sha256:`),
/// else with the digest seen on the last run (`<stateDir>/state/<job>.json`); the first
/// sighting of an image is not an update. One image's error (404, timeout, TLS) is logged and
/// counted, the others are still checked; the run fails only when every image failed. A rate
/// limit (429) stops the run with a message a person can act on, keeps what was gathered, and
/// the retry waits for the quota's reset.
public struct DockerHubPullJob: JobHandler {
    public static let typeName = "docker-hub-pull"
    public static let displayName = "Docker Hub Scan"

    public var images: [ImageReference]
    /// Base URL for references without a host.
    public var registry: String
    public var usernameEnv: String?
    public var passwordEnv: String?
    public var concurrency: Int
    /// How long one request to the registry may take.
    public var requestTimeout: Duration
    /// Registry tokens, kept across this job's runs until they expire.
    let tokens = TokenCache()

    /// What one image's check found.
    enum Check: Sendable {
        case digest(String)
        case failed(RegistryClient.Failure)
    }

    public func run(_ context: JobContext) async throws -> JobResult {
        let username = try EnvironmentSecret.value(of: usernameEnv, key: "usernameEnv", in: context)
        let password = try EnvironmentSecret.value(of: passwordEnv, key: "passwordEnv", in: context)
        let credentials = username.flatMap { user in password.map { "\(user):\($0)" } }
        let endpoints = images.map { RegistryEndpoint($0, defaultRegistry: registry) }
        let tokens = self.tokens, timeout = requestTimeout
        let images = self.images
        let logger = context.logger
        logger.info("checking \(images.count) image(s), \(concurrency) at a time")

        let checks = await BoundedConcurrency.map(count: images.count, limit: concurrency, stop: { check in
            if case .failed(.rateLimited) = check { return true }
            return false
        }) { index -> Check in
            let endpoint = endpoints[index]
            // Credentials go to the job's own registry only, never to another host's token service.
            let client = RegistryClient(baseURL: endpoint.baseURL, credentials: endpoint.isDefaultRegistry ? credentials : nil,
                                        tokens: tokens, timeout: timeout)
            do throws(RegistryClient.Failure) {
                return .digest(try await client.manifestDigest(repository: endpoint.repository, reference: images[index].tag))
            } catch {
                return .failed(error)
            }
        }
        try Task.checkCancellation()  // a timeout or `cancel`: the runner says which

        let seen = DigestState(context.state.read())
        var next = DigestState()
        var report: [JSONValue] = [], updates: [JSONValue] = [], errors: [JSONValue] = []
        var checked = 0
        var rateLimit: RateLimit?
        for (image, check) in zip(images, checks) {
            let name = image.original
            switch check {
            case .digest(let digest)?:
                checked += 1
                next.digests[name] = digest
                let previous = image.digest ?? seen.digests[name]
                let status: String
                if let previous, previous != digest {
                    status = "updated"
                    updates.append(["image": .string(name), "old": .string(previous), "new": .string(digest)])
                    logger.info("\(name): new image behind the tag (\(previous) -> \(digest))", metadata: ["image": "\(name)"])
                } else if previous == nil {
                    status = "new"
                    logger.info("\(name): \(digest) (first sighting)", metadata: ["image": "\(name)"])
                } else {
                    status = "unchanged"
                    logger.debug("\(name): \(digest) (unchanged)", metadata: ["image": "\(name)"])
                }
                report.append(["image": .string(name), "digest": .string(digest), "status": .string(status)])
            case .failed(.rateLimited(let limit))?:
                rateLimit = rateLimit ?? limit
                if let old = seen.digests[name] { next.digests[name] = old }
                report.append(["image": .string(name), "status": "rate-limited"])
            case .failed(let failure)?:
                if let old = seen.digests[name] { next.digests[name] = old }
                logger.error("\(name): \(failure.message)", metadata: ["image": "\(name)"])
                errors.append(["image": .string(name), "error": .string(failure.message)])
                report.append(["image": .string(name), "status": "error", "error": .string(failure.message)])
            case nil:
                // Not started: the run stopped at a rate limit first.
                if let old = seen.digests[name] { next.digests[name] = old }
                report.append(["image": .string(name), "status": "not-checked"])
            }
        }
        do {
            try context.state.write(next.json)
        } catch {
            logger.error("cannot save the digests seen: \(error); the next run compares with the ones before")
        }
        let result = JobResult(itemsChecked: checked, itemsUpdated: updates.count, result: [
            "updates": .array(updates), "errors": .array(errors), "errorCount": .int(Int64(errors.count)), "images": .array(report),
        ])
        if let rateLimit {
            let service = endpoints.first?.isDefaultRegistry == true && RegistryEndpoint.dockerHubAliases.contains(URLComponents(string: registry)?.host ?? "")
                ? "Docker Hub" : "The registry"
            let message = rateLimit.message(service: service, advice: credentials == nil
                ? "Set usernameEnv and passwordEnv for a higher quota, or check less often."
                : "Check less often, or spread jobs with jitter.", now: Date())
            throw JobFailure("\(message) Checked \(checked) of \(images.count) image(s) before the limit.", partial: result, retryNotBefore: rateLimit.resetAt)
        }
        if checked == 0, !errors.isEmpty {
            let first = errors.first?["error"]?.stringValue ?? ""
            throw JobFailure("every image failed (\(errors.count)); the first: \(first)", partial: result)
        }
        logger.info("checked \(checked) image(s): \(updates.count) updated, \(errors.count) error(s)")
        return result
    }

    public var publicSettings: [(String, JSONValue)] {
        var settings: [(String, JSONValue)] = [
            ("images", .array(images.map { .string($0.original) })), ("registry", .string(registry)),
            ("concurrency", .int(Int64(concurrency))), ("requestTimeout", .string(DurationText.format(requestTimeout))),
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
        requestTimeout = settings.value("requestTimeout")?.asDuration(atLeast: .milliseconds(100)) ?? .seconds(30)
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
