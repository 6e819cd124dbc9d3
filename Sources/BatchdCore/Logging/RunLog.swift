import FoundationEssentials
import Glibc
import Synchronization

/// The log entries of one run, shared by every copy of the run's logger.
///
/// Capped at `history.maxLogEntriesPerRun`: a job that prints a million lines must not turn its
/// history line into a gigabyte. What was dropped is counted and said in a last entry.
public final class RunLog: Sendable {
    private struct State {
        var entries: [LogEntry] = []
        var dropped = 0
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public func append(_ entry: LogEntry) {
        state.withLock { state in
            if state.entries.count < capacity {
                state.entries.append(entry)
            } else {
                state.dropped += 1
            }
        }
    }

    /// The entries, with a closing note when some were dropped.
    public var entries: [LogEntry] {
        state.withLock { state in
            guard state.dropped > 0 else { return state.entries }
            let note = LogEntry(timestamp: Date(), level: .warn,
                                message: "\(state.dropped) more log entries were dropped (history.maxLogEntriesPerRun is \(capacity))",
                                metadata: [("dropped", .int(Int64(state.dropped)))])
            return state.entries + [note]
        }
    }

    public var count: Int {
        state.withLock { $0.entries.count + $0.dropped }
    }
}
