/// One problem found in the configuration file, printed the way gcc prints errors so that editors
/// and CI systems annotate the right line: `batch.yaml:12:5: error: jobs.x.timeout: message`.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible, Error {
    public var file: String
    public var mark: SourceMark
    /// The dotted path of the setting (`jobs.nightly-backup.timeout`), empty for file-level problems.
    public var path: String
    public var message: String

    public init(file: String, mark: SourceMark, path: String, message: String) {
        self.file = file
        self.mark = mark
        self.path = path
        self.message = message
    }

    public var description: String {
        let location = "\(file):\(mark.line):\(mark.column)"
        return path.isEmpty
            ? "\(location): error: \(message)"
            : "\(location): error: \(path): \(message)"
    }
}

/// Collects every problem of one load, in file order, each reported once.
///
/// Validation goes on after the first problem so that a person fixes a file in one round; values
/// taken from `defaults:` are decoded once per job, so the same problem can be reported many times
/// and is kept only once.
public final class DiagnosticLog {
    public let file: String
    private var seen: Set<Diagnostic> = []
    private var ordered: [Diagnostic] = []

    public init(file: String) {
        self.file = file
    }

    public func error(_ message: String, at mark: SourceMark, path: String = "") {
        let diagnostic = Diagnostic(file: file, mark: mark, path: path, message: message)
        if seen.insert(diagnostic).inserted {
            ordered.append(diagnostic)
        }
    }

    public var isEmpty: Bool { ordered.isEmpty }

    /// The problems sorted by position, so the output reads top to bottom like the file.
    public var diagnostics: [Diagnostic] {
        ordered.enumerated()
            .sorted { ($0.element.mark, $0.offset) < ($1.element.mark, $1.offset) }
            .map(\.element)
    }
}
