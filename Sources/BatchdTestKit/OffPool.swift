import Foundation

/// Runs blocking work (raw socket reads, waiting for a process) on a thread of its own.
///
/// Swift's cooperative pool has one thread per core (two here): a test that blocks one of them
/// in `recv` can starve the very server task it is waiting for. Blocking calls in async tests go
/// through here.
public enum OffPool {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.start()
        }
    }
}
