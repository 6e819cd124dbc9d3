import BatchdCore

/// What `docker-hub-pull` remembers between runs (`<stateDir>/state/<job>.json`): the digest
/// each image reference pointed at when last checked. Only the images of the current
/// configuration are kept.
struct DigestState {
    var digests: [String: String] = [:]

    init() {}

    init(_ stored: JSONValue?) {
        for (image, digest) in stored?["digests"]?.objectValue ?? [] {
            if let digest = digest.stringValue { digests[image] = digest }
        }
    }

    var json: JSONValue {
        ["digests": .object(digests.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })]
    }
}
