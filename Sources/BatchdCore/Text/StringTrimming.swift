/// The few string edits batchd needs that only full Foundation offers (it links only
/// FoundationEssentials; see `ZoneRules`).
extension StringProtocol {
    /// Without leading and trailing spaces and tabs (Foundation's `.whitespaces`).
    public func trimmingSpaces() -> String {
        trimming { $0.isWhitespace && !$0.isNewline }
    }

    /// Without leading and trailing whitespace and line breaks (`.whitespacesAndNewlines`).
    public func trimmingWhitespace() -> String {
        trimming(\.isWhitespace)
    }

    /// Padded with spaces on the right to at least `width` characters.
    public func padded(to width: Int) -> String {
        count >= width ? String(self) : String(self) + String(repeating: " ", count: width - count)
    }

    private func trimming(_ drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension BinaryInteger {
    /// The number in decimal with leading zeros up to `width` digits (`printf("%0*d")`).
    public func zeroPadded(_ width: Int) -> String {
        let digits = String(self.magnitude)
        let sign = self < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, width - digits.count - sign.count)) + digits
    }
}
