/// A position in the configuration file, 1-based as editors and compilers count.
///
/// libyaml's marks are 0-based; the YAML layer converts them once, so nothing above it adds one.
public struct SourceMark: Sendable, Hashable, Comparable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The start of the file: where errors about the file as a whole point.
    public static let start = SourceMark(line: 1, column: 1)

    public static func < (a: SourceMark, b: SourceMark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    /// The mark `offset` characters to the right on the same line (for errors inside a scalar).
    public func advanced(by offset: Int) -> SourceMark {
        SourceMark(line: line, column: column + offset)
    }
}
