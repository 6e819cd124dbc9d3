/// Durations as batch.yaml writes them: `500ms`, `90s`, `5m`, `1h30m`, `2d`.
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses a sequence of number-unit parts; nil when the text is anything else.
    public static func parse(_ text: String) -> Duration? {
        var total: Int64 = 0
        var rest = Substring(text.trimmingCharacters(in: " "))
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 12, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let letters = rest.prefix { $0.isASCII && $0.isLetter }
            guard let unit = units.first(where: { $0.suffix == String(letters) }) else { return nil }
            rest = rest.dropFirst(letters.count)
            let (product, overflow) = number.multipliedReportingOverflow(by: unit.milliseconds)
            guard !overflow, product <= 100 * 365 * 86_400_000 else { return nil }
            total += product
        }
        return .milliseconds(total)
    }

    /// The shortest text that parses back to the same duration (`5400s` prints as `1h30m`).
    public static func format(_ duration: Duration) -> String {
        var remaining = duration.milliseconds
        if remaining == 0 { return "0s" }
        var parts = ""
        for unit in units.reversed() where remaining >= unit.milliseconds {
            let count = remaining / unit.milliseconds
            remaining %= unit.milliseconds
            parts += "\(count)\(unit.suffix)"
        }
        return parts
    }
}

extension Duration {
    /// Whole milliseconds, the resolution of every duration in batch.yaml and in run records.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }

    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var text = Substring(self)
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return String(text)
    }
}
