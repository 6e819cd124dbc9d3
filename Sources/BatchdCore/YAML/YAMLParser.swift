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

    /// An open sequence or mapping, filled in place: a class, so that adding the ten
    /// thousandth job to `jobs:` neither copies the nine thousand before it nor searches them
    /// for a duplicate key (`positions` does).
    private final class Frame {
        let mark: SourceMark
        let anchor: String?
        let isMapping: Bool
        var items: [YAMLNode] = []
        var pairs: [YAMLNode.Pair] = []
        var positions: [String: Int] = [:]
        var pendingKey: YAMLNode?
        /// Keys that came in through `<<`; a key written explicitly replaces them.
        var merged: Set<String> = []
        /// Expanded node count of the frame (for anchors, which aliases repeat).
        var size = 1

        init(mark: SourceMark, anchor: String?, isMapping: Bool) {
            self.mark = mark
            self.anchor = anchor
            self.isMapping = isMapping
        }

        var node: YAMLNode {
            YAMLNode(isMapping ? .mapping(pairs) : .sequence(items), at: mark)
        }
    }

    let log: DiagnosticLog
    private var stack: [Frame] = []
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    /// Nodes the document expands to (aliases count their whole target again): the cap that
    /// stops a "billion laughs" file.
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
            return add(node, size: 1, new: 1, anchor: anchorName(scalar.anchor), at: mark)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            guard stack.count < YAMLParser.maximumDepth else { return tooDeep(mark) }
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
            stack.append(Frame(mark: mark, anchor: anchorName(anchor), isMapping: isMapping))
            return .more
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return .failed }
            // Its children were counted as they came; the container itself is one more node.
            return add(frame.node, size: frame.size, new: 1, anchor: frame.anchor, at: frame.mark)
        case YAML_ALIAS_EVENT:
            let name = anchorName(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                log.error("alias '*\(name)' refers to no anchor defined before it", at: mark)
                return .failed
            }
            return add(target.node, size: target.size, new: target.size, anchor: nil, at: mark)
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

    /// Adds a finished node to the open frame. `size` is the nodes it stands for (an anchor
    /// remembers it), `new` the nodes it adds to the document (an alias repeats its target).
    private mutating func add(_ node: YAMLNode, size: Int, new: Int, anchor: String?, at mark: SourceMark) -> Step {
        expandedNodes += new
        if expandedNodes > YAMLParser.maximumExpandedNodes {
            log.error("the document expands to more than \(YAMLParser.maximumExpandedNodes) nodes (aliases repeating large parts?)", at: mark)
            return .failed
        }
        if let anchor {
            anchors[anchor] = (node, size)
        }
        guard let frame = stack.last else {
            root = node
            return .more
        }
        frame.size += size
        guard frame.isMapping else {
            frame.items.append(node)
            return .more
        }
        guard let key = frame.pendingKey else {
            if key(isAcceptable: node) == false {
                log.error("mapping keys must be plain strings, not \(node.kindDescription)", at: node.mark)
            }
            frame.pendingKey = node
            return .more
        }
        frame.pendingKey = nil
        let keyText = key.scalarText ?? ""
        if keyText == "<<" {
            frame.merged.formUnion(merge(node, into: frame, at: key.mark))
        } else if let index = frame.positions[keyText] {
            if frame.merged.remove(keyText) != nil {
                frame.pairs[index] = YAMLNode.Pair(key: key, value: node)
            } else {
                log.error("duplicate key '\(keyText)' (first at line \(frame.pairs[index].key.mark.line))", at: key.mark)
            }
        } else {
            frame.positions[keyText] = frame.pairs.count
            frame.pairs.append(YAMLNode.Pair(key: key, value: node))
        }
        return .more
    }

    private func key(isAcceptable node: YAMLNode) -> Bool {
        if case .scalar = node.content { return true }
        return false
    }

    /// YAML merge keys (`<<: *defaults`): keys already present win, as the merge-key spec says.
    /// Returns the keys it added, which keys written later in the mapping may replace.
    private func merge(_ source: YAMLNode, into frame: Frame, at mark: SourceMark) -> Set<String> {
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
            for pair in extra {
                let text = pair.key.scalarText ?? ""
                guard frame.positions[text] == nil else { continue }
                frame.positions[text] = frame.pairs.count
                frame.pairs.append(pair)
                added.insert(text)
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
