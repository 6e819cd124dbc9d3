import Glibc
import Synchronization

/// Lines the daemon logs about many runs at once ("run started" for every run of a batch,
/// "run recorded" for every record of a group commit), written together: one `write` for the
/// batch instead of one per line. A `write` to a log file was a tenth of a no-op run's cost.
///
/// The lines logged inside `collect` go to the batch and are written, in order, when it ends.
/// A task started inside `collect` inherits the batch (task-locals are inherited), and may log
/// after it ended: a closed batch refuses the line and `ConsoleLogHandler` writes it at once, so
/// no line is ever lost or held back.
final class LogLineBatch: Sendable {
    @TaskLocal static var current: LogLineBatch?

    private struct Lines {
        var open = true
        var bytes: [UInt8] = []
        var fileDescriptor: Int32 = -1
    }

    private let lines = Mutex(Lines())

    /// Runs `body`, collecting what it logs, then writes it.
    static func collect<Result>(_ body: () throws -> Result) rethrows -> Result {
        let batch = LogLineBatch()
        defer { batch.close() }
        return try $current.withValue(batch, operation: body)
    }

    /// Takes `line` for the batch; false when the batch is closed or holds lines for another
    /// descriptor (the caller writes the line itself).
    func add(_ line: [UInt8], to fileDescriptor: Int32) -> Bool {
        lines.withLock { lines in
            guard lines.open, lines.fileDescriptor < 0 || lines.fileDescriptor == fileDescriptor else { return false }
            lines.fileDescriptor = fileDescriptor
            lines.bytes += line
            return true
        }
    }

    private func close() {
        let (bytes, fileDescriptor) = lines.withLock { lines in
            lines.open = false
            defer { lines.bytes = [] }
            return (lines.bytes, lines.fileDescriptor)
        }
        if !bytes.isEmpty { ConsoleLogHandler.writeAll(bytes, to: fileDescriptor) }
    }
}
