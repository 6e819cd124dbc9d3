import Foundation
import Synchronization

/// Starts `Process`es one at a time. Foundation's `Process.run()` on Linux sets up a run loop
/// for the calling thread, and two threads doing that at once can crash it (seen here: a
/// SIGILL in `__CFRunLoopCopyMode` with two tests starting registries on their own threads).
public enum ProcessLauncher {
    private static let lock = Mutex(())

    public static func run(_ process: Process) throws {
        try lock.withLock { _ in try process.run() }
    }
}
