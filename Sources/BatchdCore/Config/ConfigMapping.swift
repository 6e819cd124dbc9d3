/// A mapping of the configuration file being decoded, which remembers every key it was asked for.
///
/// Decoding asks for each key a section knows; whatever the file holds beyond those is reported by
/// `reportUnknownKeys()` with the closest known key as a suggestion. A job's mapping falls back to
/// the `defaults:` mapping for keys it does not set itself (mappings are merged key by key), and a
/// value taken from there carries the path and position of `defaults`, where the fix belongs.
public final class ConfigMapping {
    public let node: YAMLNode
    public let path: String
    let log: DiagnosticLog
    /// Where "missing key" errors point: the key that introduced this mapping.
    public let anchor: SourceMark
    let fallback: ConfigMapping?
    private var askedKeys: [String] = []
    private var askedSet: Set<String> = []

    init(node: YAMLNode, path: String, log: DiagnosticLog, anchor: SourceMark? = nil, fallback: ConfigMapping? = nil) {
        self.node = node
        self.path = path
        self.log = log
        self.anchor = anchor ?? node.mark
        self.fallback = fallback
    }

    var pairs: [YAMLNode.Pair] {
        if case .mapping(let pairs) = node.content { return pairs }
        return []
    }

    /// The keys this mapping itself sets, in file order.
    public var keys: [String] { pairs.compactMap { $0.key.scalarText } }

    /// Every key decoding asked for, in the order asked: the section's vocabulary.
    public var knownKeys: [String] { askedKeys }

    private func ownPair(_ key: String) -> YAMLNode.Pair? {
        pairs.first { $0.key.scalarText == key }
    }

    private func childPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The value of `key` here or, failing that, in the fallback; nil when neither sets it
    /// (an explicit `null` counts as not set, so `key: ~` restores the built-in default).
    public func value(_ key: String, inherit: Bool = true) -> ConfigValue? {
        if askedSet.insert(key).inserted { askedKeys.append(key) }
        let inherited = inherit ? fallback?.value(key) : nil
        guard let own = ownPair(key), !own.value.isNull else { return inherited }
        var node = own.value
        if let inherited, case .mapping(let mine) = node.content, case .mapping(let theirs) = inherited.node.content {
            node = YAMLNode(.mapping(Self.merge(mine, over: theirs)), at: node.mark)
        }
        return ConfigValue(node: node, path: childPath(key), log: log)
    }

    /// True when the key is set here or in the fallback.
    public func contains(_ key: String, inherit: Bool = true) -> Bool {
        value(key, inherit: inherit) != nil
    }

    /// A required value: reports "missing" at this mapping's key when absent.
    public func required(_ key: String, _ what: String) -> ConfigValue? {
        if let value = value(key) { return value }
        log.error("missing required key '\(key)' (\(what))", at: anchor, path: path)
        return nil
    }

    public func error(_ message: String) {
        log.error(message, at: anchor, path: path)
    }

    /// The entries of a free-form mapping (`env`, `headers`) whose keys are data, not settings.
    public var entries: [(key: String, value: ConfigValue)] {
        pairs.compactMap { pair in
            pair.key.scalarText.map { ($0, ConfigValue(node: pair.value, path: childPath($0), log: log)) }
        }
    }

    /// An error about the key itself of one entry (a bad variable or header name).
    public func error(_ message: String, atKey key: String) {
        let mark = pairs.first { $0.key.scalarText == key }?.key.mark ?? anchor
        log.error(message, at: mark, path: childPath(key))
    }

    /// Reports every key of this mapping that decoding never asked for.
    ///
    /// A key `x` where `xEnv` or `xFile` is known is a secret written inline: the message says where
    /// secrets go instead of merely calling the key unknown.
    public func reportUnknownKeys(alsoKnown extra: [String] = []) {
        let known = askedSet.union(extra)
        for pair in pairs {
            guard let key = pair.key.scalarText, !known.contains(key) else { continue }
            let secretKeys = ["Env", "File"].map { key + $0 }.filter(known.contains)
            if !secretKeys.isEmpty {
                let choices = secretKeys.map { "'\($0)'" }.joined(separator: " or ")
                log.error("secrets are never written in batch.yaml; name an environment variable or a file with \(choices)", at: pair.key.mark, path: childPath(key))
            } else {
                log.error("unknown key '\(key)'\(Suggestion.hint(for: key, among: askedKeys + extra))", at: pair.key.mark, path: childPath(key))
            }
        }
    }

    /// Deep merge of two mappings' pairs: `mine` wins, keys only in `theirs` are added.
    private static func merge(_ mine: [YAMLNode.Pair], over theirs: [YAMLNode.Pair]) -> [YAMLNode.Pair] {
        var result = mine
        for pair in theirs {
            guard let key = pair.key.scalarText else { continue }
            if let index = result.firstIndex(where: { $0.key.scalarText == key }) {
                if case .mapping(let a) = result[index].value.content, case .mapping(let b) = pair.value.content {
                    result[index].value = YAMLNode(.mapping(merge(a, over: b)), at: result[index].value.mark)
                }
            } else {
                result.append(pair)
            }
        }
        return result
    }
}
