/// One value of the configuration file being decoded: its node, its dotted path, and the log that
/// problems go to. Each `as...` accessor either returns a checked value or reports why not and
/// returns nil, so decoding code reads as a list of settings rather than a list of error branches.
public struct ConfigValue {
    public let node: YAMLNode
    public let path: String
    let log: DiagnosticLog

    public var mark: SourceMark { node.mark }

    public func error(_ message: String) {
        log.error(message, at: node.mark, path: path)
    }

    /// An error at a character inside this scalar (e.g. one field of a cron expression).
    public func error(_ message: String, atOffset offset: Int) {
        var mark = node.mark
        if case .scalar(_, .quoted) = node.content { mark = mark.advanced(by: 1) }
        log.error(message, at: mark.advanced(by: offset), path: path)
    }

    private func mismatch(_ expected: String) {
        error("expected \(expected), got \(node.kindDescription)")
    }

    public func asString() -> String? {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            mismatch("a string")
            return nil
        }
        return text
    }

    /// A string that must not be empty (names, URLs, commands).
    public func asNonEmptyString() -> String? {
        guard let text = asString() else { return nil }
        if text.isEmpty {
            error("must not be empty")
            return nil
        }
        return text
    }

    public func asInt(in range: ClosedRange<Int>? = nil) -> Int? {
        guard case .scalar(let text, .plain) = node.content, let value = Int(text) else {
            mismatch("an integer")
            return nil
        }
        if let range, !range.contains(value) {
            if range.upperBound == .max {
                error("must be at least \(range.lowerBound) (got \(value))")
            } else {
                error("must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
            }
            return nil
        }
        return value
    }

    public func asNumber(atLeast minimum: Double) -> Double? {
        guard case .scalar(let text, .plain) = node.content, let value = Double(text), value.isFinite else {
            mismatch("a number")
            return nil
        }
        if value < minimum {
            error("must be at least \(minimum) (got \(text))")
            return nil
        }
        return value
    }

    /// `true` or `false`. YAML 1.1's `yes`/`no`/`on`/`off` are refused with a hint, because they
    /// mean different things to different YAML readers (the "Norway problem").
    public func asBool() -> Bool? {
        guard case .scalar(let text, .plain) = node.content else {
            mismatch("true or false")
            return nil
        }
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        case "yes", "Yes", "YES", "on", "On", "ON", "y", "Y":
            error("expected true or false, got '\(text)' (write true)")
        case "no", "No", "NO", "off", "Off", "OFF", "n", "N":
            error("expected true or false, got '\(text)' (write false)")
        default:
            mismatch("true or false")
        }
        return nil
    }

    /// A duration written like `500ms`, `90s`, `5m`, `1h30m` or `2d`, at least `minimum`.
    public func asDuration(atLeast minimum: Duration = .zero) -> Duration? {
        guard case .scalar(let text, let style) = node.content, !node.isNull else {
            mismatch("a duration such as 30s, 5m or 1h30m")
            return nil
        }
        if style == .plain, Int(text) != nil {
            error("a duration needs a unit: write \(text)s, \(text)m or \(text)h")
            return nil
        }
        guard let duration = DurationText.parse(text) else {
            error("'\(text)' is not a duration; write e.g. 500ms, 90s, 5m, 1h30m or 2d")
            return nil
        }
        if duration < minimum {
            error("must be at least \(DurationText.format(minimum)) (got \(text))")
            return nil
        }
        return duration
    }

    public func asList() -> [ConfigValue]? {
        guard case .sequence(let items) = node.content else {
            mismatch("a list")
            return nil
        }
        return items.enumerated().map { index, item in
            ConfigValue(node: item, path: "\(path)[\(index)]", log: log)
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    public func asStringList() -> [String]? {
        if case .scalar = node.content, !node.isNull, let single = asString() { return [single] }
        guard let items = asList() else { return nil }
        let strings = items.compactMap { $0.asString() }
        return strings.count == items.count ? strings : nil
    }

    public func asMapping() -> ConfigMapping? {
        guard case .mapping = node.content else {
            mismatch("a mapping")
            return nil
        }
        return ConfigMapping(node: node, path: path, log: log)
    }

    /// A mapping from strings to strings (environment variables, HTTP headers), in file order;
    /// `checkKey` returns a message for a key that is not acceptable.
    public func asStringMap(checkKey: (String) -> String? = { _ in nil }) -> [(key: String, value: String)]? {
        guard let mapping = asMapping() else { return nil }
        var result: [(String, String)] = []
        var ok = true
        for (key, value) in mapping.entries {
            if let problem = checkKey(key) {
                mapping.error(problem, atKey: key)
                ok = false
            }
            if let text = value.asString() { result.append((key, text)) } else { ok = false }
        }
        return ok ? result : nil
    }

    /// The name of an environment variable (for `...Env` keys), never the secret itself.
    public func asEnvironmentName() -> String? {
        guard let name = asNonEmptyString() else { return nil }
        guard EnvironmentName.isValid(name) else {
            error("expected the name of an environment variable (letters, digits and _), not a value; the secret goes in the environment, never in batch.yaml")
            return nil
        }
        return name
    }

    /// An `http://` or `https://` URL with a host.
    public func asHTTPURL() -> String? {
        guard let text = asNonEmptyString() else { return nil }
        guard HTTPURLText.isValid(text) else {
            error("expected an http:// or https:// URL with a host (got '\(text)')")
            return nil
        }
        return text
    }

    /// One of a fixed set of words, with a suggestion when it is close to one.
    public func asChoice(_ choices: [String]) -> String? {
        guard let text = asString() else { return nil }
        guard choices.contains(text) else {
            let list = choices.map { "'\($0)'" }.joined(separator: ", ")
            error("must be one of \(list) (got '\(text)')\(Suggestion.hint(for: text, among: choices))")
            return nil
        }
        return text
    }
}

/// Checks for `...Env` values and `env:` keys: POSIX-portable environment variable names.
public enum EnvironmentName {
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}

/// A minimal syntactic check of base URLs; libcurl does the real parsing when the job runs.
enum HTTPURLText {
    static func isValid(_ text: String) -> Bool {
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") { rest = text.dropFirst(7) }
        else if lower.hasPrefix("https://") { rest = text.dropFirst(8) }
        else { return false }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return !host.isEmpty && !host.contains(where: { $0 == " " || $0.isNewline })
    }
}
