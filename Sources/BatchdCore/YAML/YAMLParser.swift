import CYAML

/// Turns YAML text into a `YAMLNode` tree through the system libyaml, keeping every node's position.
///
/// Limits keep a hostile or broken file from hurting the daemon: nesting is capped (a deep tree
/// would overflow the stack when it is freed), and aliases may not expand the document past a node
/// budget (the "billion laughs" file). Duplicate keys are an error, as YAML says they are.
public struct YAMLParser {
    public static let maximumDepth = 64
    public static let maximumExpandedNodes = 200_000

    private let log: DiagnosticLog

    public init(log: DiagnosticLog) {
        self.log = log
    }

    /// Parses the first document of `text`; returns nil (with diagnostics) when it cannot.
    public func parse(_ text: [UInt8]) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) != 0 else {
            log.error("cannot initialise the YAML parser (out of memory)", at: .start)
            return nil
        }
        defer { yaml_parser_delete(&parser) }
        // libyaml reads from this buffer during the whole parse, so it stays pinned until the end.
        return text.withUnsafeBufferPointer { buffer -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(log: log)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) != 0 else {
                    reportSyntaxError(parser)
                    return nil
                }
                defer { yaml_event_delete(&event) }
                switch builder.consume(event) {
                case .more: continue
                case .done(let root): return root
                case .failed: return nil
                }
            }
        }
    }

    private func reportSyntaxError(_ parser: yaml_parser_t) {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        var message = "YAML syntax error: \(problem)"
        if let context = parser.context.map({ String(cString: $0) }) {
            let at = parser.context_mark
            message += " (\(context) at line \(at.line + 1), column \(at.column + 1))"
        }
        // A problem_mark of 0,0 with an offset past the start means libyaml did not set it well;
        // the offset-derived line is still the best we have.
        let mark = parser.problem_mark
        log.error(message, at: SourceMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1))
    }
}

/// Builds the tree from the event stream with an explicit stack (no recursion on the input's depth).
private struct TreeBuilder {
    enum Step {
        case more
        case done(YAMLNode?)
        case failed
    }

    private enum Frame {
        case sequence(mark: SourceMark, anchor: String?, items: [YAMLNode])
        /// `merged` holds keys that came in through `<<`; a key written explicitly replaces them.
        case mapping(mark: SourceMark, anchor: String?, pairs: [YAMLNode.Pair], pendingKey: YAMLNode?, merged: Set<String>)
    }

    let log: DiagnosticLog
    private var stack: [Frame] = []
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    private var sizes: [Int] = []  // expanded node count of each open frame
    private var expandedNodes = 0
    private var root: YAMLNode?
    private var documents = 0

    init(log: DiagnosticLog) {
        self.log = log
    }

    mutating func consume(_ event: yaml_event_t) -> Step {
        let mark = SourceMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_START_EVENT, YAML_DOCUMENT_END_EVENT:
            return .more
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                log.error("the file holds more than one YAML document; batchd reads exactly one", at: mark)
                return .failed
            }
            return .more
        case YAML_STREAM_END_EVENT:
            return .done(root)
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = string(scalar.value, length: scalar.length)
            let tag = scalar.tag.map { String(cString: $0) }
            let explicitString = tag == "tag:yaml.org,2002:str"
            if let tag, !explicitString, !Self.acceptedTags.contains(tag) {
                log.error("unsupported YAML tag '\(tag)'", at: mark)
            }
            let quoted = scalar.style != YAML_PLAIN_SCALAR_STYLE || explicitString
            let node = YAMLNode(.scalar(text, quoted ? .quoted : .plain), at: mark)
            return add(node, size: 1, anchor: anchorName(scalar.anchor), at: mark)
        case YAML_SEQUENCE_START_EVENT:
            guard stack.count < YAMLParser.maximumDepth else { return tooDeep(mark) }
            stack.append(.sequence(mark: mark, anchor: anchorName(event.data.sequence_start.anchor), items: []))
            sizes.append(1)
            return .more
        case YAML_MAPPING_START_EVENT:
            guard stack.count < YAMLParser.maximumDepth else { return tooDeep(mark) }
            stack.append(.mapping(mark: mark, anchor: anchorName(event.data.mapping_start.anchor), pairs: [], pendingKey: nil, merged: []))
            sizes.append(1)
            return .more
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast(), let size = sizes.popLast() else { return .failed }
            switch frame {
            case .sequence(let start, let anchor, let items):
                return add(YAMLNode(.sequence(items), at: start), size: size, anchor: anchor, at: start)
            case .mapping(let start, let anchor, let pairs, _, _):
                return add(YAMLNode(.mapping(pairs), at: start), size: size, anchor: anchor, at: start)
            }
        case YAML_ALIAS_EVENT:
            let name = anchorName(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                log.error("alias '*\(name)' refers to no anchor defined before it", at: mark)
                return .failed
            }
            return add(target.node, size: target.size, anchor: nil, at: mark)
        default:
            return .more
        }
    }

    /// Scalar tags a person may reasonably write; they change nothing about how batchd reads values.
    private static let acceptedTags: Set<String> = [
        "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:null", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "!",
    ]

    private mutating func tooDeep(_ mark: SourceMark) -> Step {
        log.error("nesting deeper than \(YAMLParser.maximumDepth) levels", at: mark)
        return .failed
    }

    private mutating func add(_ node: YAMLNode, size: Int, anchor: String?, at mark: SourceMark) -> Step {
        expandedNodes += size
        if expandedNodes > YAMLParser.maximumExpandedNodes {
            log.error("the document expands to more than \(YAMLParser.maximumExpandedNodes) nodes (aliases repeating large parts?)", at: mark)
            return .failed
        }
        if let anchor {
            anchors[anchor] = (node, size)
        }
        guard let top = stack.popLast() else {
            root = node
            return .more
        }
        sizes[sizes.count - 1] += size
        switch top {
        case .sequence(let start, let anchorName, var items):
            items.append(node)
            stack.append(.sequence(mark: start, anchor: anchorName, items: items))
        case .mapping(let start, let anchorName, var pairs, let pendingKey, var merged):
            if let key = pendingKey {
                let keyText = key.scalarText ?? ""
                if keyText == "<<" {
                    merged.formUnion(merge(node, into: &pairs, at: key.mark))
                } else if let index = pairs.firstIndex(where: { $0.key.scalarText == keyText }) {
                    if merged.remove(keyText) != nil {
                        pairs[index] = YAMLNode.Pair(key: key, value: node)
                    } else {
                        log.error("duplicate key '\(keyText)' (first at line \(pairs[index].key.mark.line))", at: key.mark)
                    }
                } else {
                    pairs.append(YAMLNode.Pair(key: key, value: node))
                }
                stack.append(.mapping(mark: start, anchor: anchorName, pairs: pairs, pendingKey: nil, merged: merged))
            } else {
                if key(isAcceptable: node) == false {
                    log.error("mapping keys must be plain strings, not \(node.kindDescription)", at: node.mark)
                }
                stack.append(.mapping(mark: start, anchor: anchorName, pairs: pairs, pendingKey: node, merged: merged))
            }
        }
        return .more
    }

    private func key(isAcceptable node: YAMLNode) -> Bool {
        if case .scalar = node.content { return true }
        return false
    }

    /// YAML merge keys (`<<: *defaults`): keys already present win, as the merge-key spec says.
    /// Returns the keys it added, which keys written later in the mapping may replace.
    private func merge(_ source: YAMLNode, into pairs: inout [YAMLNode.Pair], at mark: SourceMark) -> Set<String> {
        let sources: [YAMLNode]
        var added = Set<String>()
        switch source.content {
        case .mapping: sources = [source]
        case .sequence(let items): sources = items
        case .scalar:
            log.error("a merge key '<<' takes a mapping or a list of mappings, not \(source.kindDescription)", at: mark)
            return added
        }
        for item in sources {
            guard case .mapping(let extra) = item.content else {
                log.error("a merge key '<<' takes mappings, not \(item.kindDescription)", at: item.mark)
                continue
            }
            for pair in extra where !pairs.contains(where: { $0.key.scalarText == pair.key.scalarText }) {
                pairs.append(pair)
                pair.key.scalarText.map { _ = added.insert($0) }
            }
        }
        return added
    }

    private func anchorName(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
        guard let pointer else { return "" }
        // libyaml has already checked the input is UTF-8; decoding with repair keeps us safe anyway.
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}

private extension String {
    init(cString pointer: UnsafeMutablePointer<yaml_char_t>) {
        self = String(cString: UnsafePointer<CChar>(OpaquePointer(pointer)))
    }
}
