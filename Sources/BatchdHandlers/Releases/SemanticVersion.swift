/// A version as release tags write it, compared the way semantic versioning orders them.
///
/// Tags are messy (`v1.2.3`, `1.2.3`, `release-1.2.3`, `gitlab-runner-v17.0.0`, `1.2.3-rc.1`,
/// `2024.01.15`, `1.2.3+build.7`): a short prefix of letters before the first digit is dropped,
/// any number of numeric components is accepted (missing ones count as 0, so `1.2` equals
/// `1.2.0`), a prerelease after `-` (or directly after the numbers, `1.2.3rc1`) orders before
/// the release, and build metadata after `+` is ignored. Comparing versions rather than strings
/// means a "downgrade" (the seed compared `current != latest`) is never reported as an update.
public struct SemanticVersion: Comparable, Sendable, CustomStringConvertible {
    public let numbers: [Int]
    /// Dot-separated prerelease identifiers; empty for a release.
    public let prerelease: [String]
    /// The tag as written.
    public let original: String

    public var isPrerelease: Bool { !prerelease.isEmpty }
    public var description: String { original }

    public init?(_ text: String) {
        original = text
        var rest = Substring(text.trimmingSpaces())
        guard let firstDigit = rest.firstIndex(where: \.isASCIIDigit) else { return nil }
        let prefix = rest[..<firstDigit]
        guard prefix.count <= 32, prefix.allSatisfy({ $0.isLetter || "-_/.".contains($0) }) else { return nil }
        rest = rest[firstDigit...]
        if let plus = rest.firstIndex(of: "+") {
            rest = rest[..<plus]  // build metadata: no part of the order
        }
        var numbers: [Int] = []
        while let first = rest.first, first.isASCIIDigit {
            let digits = rest.prefix(while: \.isASCIIDigit)
            guard digits.count <= 18, let value = Int(digits) else { return nil }
            numbers.append(value)
            rest = rest.dropFirst(digits.count)
            if rest.first == ".", rest.dropFirst().first?.isASCIIDigit == true {
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        if rest.first == "-" || rest.first == "." { rest = rest.dropFirst() }
        let identifiers = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if !rest.isEmpty {
            guard identifiers.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } }) else { return nil }
        }
        self.numbers = numbers
        prerelease = rest.isEmpty ? [] : identifiers
    }

    public static func == (a: SemanticVersion, b: SemanticVersion) -> Bool {
        !(a < b) && !(b < a)
    }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        for index in 0..<max(a.numbers.count, b.numbers.count) {
            let left = index < a.numbers.count ? a.numbers[index] : 0
            let right = index < b.numbers.count ? b.numbers[index] : 0
            if left != right { return left < right }
        }
        // Same numbers: a prerelease comes before its release.
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, true): return false
        case (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (left, right) in zip(a.prerelease, b.prerelease) where left != right {
            switch (Int(left), Int(right)) {
            case let (l?, r?): return l < r
            case (.some, nil): return true  // numeric identifiers sort before alphanumeric ones
            case (nil, .some): return false
            case (nil, nil): return left < right
            }
        }
        return a.prerelease.count < b.prerelease.count
    }

    /// The highest of `tags` that parse as versions, leaving prereleases out unless asked.
    public static func newest(of tags: [String], includePrereleases: Bool) -> SemanticVersion? {
        tags.compactMap(SemanticVersion.init).filter { includePrereleases || !$0.isPrerelease }.max()
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
