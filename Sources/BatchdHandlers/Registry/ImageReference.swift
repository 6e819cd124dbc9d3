/// An image reference such as `nginx`, `grafana/grafana:11.0.0`, `ghcr.io/o/app:main`,
/// `localhost:5000/app@sha256:...`, split the way the Docker CLI splits it.
///
/// A first component containing `.` or `:`, or equal to `localhost`, is a registry host; without
/// one the image is on the default registry, where a single-name image lives under `library/`.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// Registry host (with port) when the reference names one.
    public var host: String?
    /// Repository path on the registry (`library/nginx`).
    public var repository: String
    public var tag: String
    /// A pinned digest (`sha256:<64 hex>`), compared instead of the digest seen last time.
    public var digest: String?
    /// The reference as written in batch.yaml.
    public var original: String

    public var description: String { original }

    public enum ParseError: Error, Equatable {
        case invalid(String)
    }

    public init(parsing text: String) throws(ParseError) {
        original = text
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let pinned = String(rest[rest.index(after: at)...])
            guard Self.isDigest(pinned) else {
                throw .invalid("'\(pinned)' is not a digest; expected sha256: followed by 64 hex digits")
            }
            digest = pinned
            rest = rest[..<at]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if components.count > 1, components[0].contains(".") || components[0].contains(":") || components[0] == "localhost" {
            host = components.removeFirst()
        }
        tag = "latest"
        if var last = components.last, let colon = last.lastIndex(of: ":") {
            tag = String(last[last.index(after: colon)...])
            last = String(last[..<colon])
            components[components.count - 1] = last
            guard Self.isTag(tag) else {
                throw .invalid("'\(tag)' is not a valid tag (letters, digits, '_', '.', '-'; at most 128)")
            }
        }
        guard !components.isEmpty, components.allSatisfy(Self.isPathComponent) else {
            throw .invalid("'\(text)' is not an image reference; expected e.g. nginx:latest, grafana/grafana:11 or ghcr.io/owner/app:main (lowercase names)")
        }
        if host == nil, components.count == 1 {
            components.insert("library", at: 0)
        }
        repository = components.joined(separator: "/")
    }

    static func isDigest(_ text: String) -> Bool {
        guard text.hasPrefix("sha256:") else { return false }
        let hex = text.dropFirst(7)
        return hex.count == 64 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    static func isTag(_ tag: String) -> Bool {
        guard (1...128).contains(tag.count), let first = tag.first, first.isASCII, first.isLetter || first.isNumber || first == "_" else { return false }
        return tag.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }

    static func isPathComponent(_ component: String) -> Bool {
        guard let first = component.first, let last = component.last,
              first.isASCII, first.isLowercase || first.isNumber,
              last.isASCII, last.isLowercase || last.isNumber else { return false }
        return component.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) }
    }
}
