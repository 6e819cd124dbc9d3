/// One node of a parsed YAML document, with the place it came from.
///
/// The tree is plain data: aliases are already resolved, tags are kept only to tell an explicit
/// `!!str` apart. Nothing outside the configuration decoder ever sees it.
public struct YAMLNode: Sendable {
    public enum ScalarStyle: Sendable {
        /// Written without quotes: may be read as a number, boolean or null.
        case plain
        /// Quoted, a block scalar, or tagged `!!str`: always a string.
        case quoted
    }

    public enum Content: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        case mapping([Pair])
    }

    public struct Pair: Sendable {
        public var key: YAMLNode
        public var value: YAMLNode
    }

    public var content: Content
    public var mark: SourceMark

    public init(_ content: Content, at mark: SourceMark) {
        self.content = content
        self.mark = mark
    }

    /// The scalar's text, when this node is a scalar.
    public var scalarText: String? {
        if case .scalar(let text, _) = content { return text }
        return nil
    }

    /// A plain `null`, `~` or empty scalar: YAML's ways of writing "no value".
    public var isNull: Bool {
        guard case .scalar(let text, .plain) = content else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// What a person would call this kind of node in an error message.
    public var kindDescription: String {
        switch content {
        case .scalar(let text, let style):
            if isNull { return "null" }
            if style == .plain, Int(text) != nil { return "an integer" }
            return "a string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
