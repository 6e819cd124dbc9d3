import BatchdCore

/// What `tracked-apps-check` remembers between runs (`<stateDir>/state/<job>.json`): per app,
/// the newest tag found and the source's ETag for that answer, so that the next request can
/// be conditional (a 304 costs no GitHub quota).
struct ReleaseState {
    struct Entry {
        /// Where the answer came from (`github:owner/repo`, ...): an ETag is only sent back to
        /// the source that gave it, also after the app's source was changed in batch.yaml.
        var source: String
        var latest: String
        var etag: String?
    }

    var apps: [String: Entry] = [:]

    init() {}

    init(_ stored: JSONValue?) {
        for (name, entry) in stored?["apps"]?.objectValue ?? [] {
            guard let latest = entry["latest"]?.stringValue, let source = entry["source"]?.stringValue else { continue }
            apps[name] = Entry(source: source, latest: latest, etag: entry["etag"]?.stringValue)
        }
    }

    var json: JSONValue {
        ["apps": .object(apps.sorted { $0.key < $1.key }.map { name, entry in
            (name, .object([("source", .string(entry.source)), ("latest", .string(entry.latest)),
                            ("etag", entry.etag.map(JSONValue.string) ?? .null)]))
        })]
    }
}
