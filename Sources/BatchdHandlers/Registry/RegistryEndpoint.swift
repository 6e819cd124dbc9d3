/// Where an image lives: the registry's base URL and the repository path on it.
///
/// A reference without a host (and `docker.io/...`, `index.docker.io/...`) is on the job's
/// `registry` (Docker Hub unless set), where a one-part name lives under `library/`. A
/// reference with a host is on `https://<host>`, except `localhost` and 127.x, which Docker
/// also talks to over plain HTTP.
struct RegistryEndpoint: Hashable, Sendable {
    var baseURL: String
    var repository: String
    /// On the job's own registry: the only one its credentials are sent to.
    var isDefaultRegistry: Bool

    static let dockerHubAliases: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io"]

    init(_ image: ImageReference, defaultRegistry: String) {
        if let host = image.host, !Self.dockerHubAliases.contains(host) {
            let local = host.hasPrefix("localhost") || host.hasPrefix("127.") || host.hasPrefix("[::1]")
            baseURL = "\(local ? "http" : "https")://\(host)"
            repository = image.repository
            isDefaultRegistry = false
        } else {
            baseURL = defaultRegistry.hasSuffix("/") ? String(defaultRegistry.dropLast()) : defaultRegistry
            repository = image.host != nil && !image.repository.contains("/") ? "library/\(image.repository)" : image.repository
            isDefaultRegistry = true
        }
    }
}
