import CBatchdSystem
import Glibc

/// A detached POSIX thread with a name (`ps -L` and `top -H` show it), for the few loops that
/// block in a system call (inotify, accept, signals, a child's pipes). Foundation's `Thread`
/// is not in FoundationEssentials, and a bare pthread is cheaper to start.
public enum OSThread {
    /// Starts `body` on a new thread named `name`, with a stack of `stackSize` bytes (nil: the
    /// default, 8 MiB here); a thread for every running command wants a small one, see
    /// `WatcherThreads`.
    public static func start(name: String, stackSize: Int? = nil, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        if let stackSize { pthread_attr_setstacksize(&attributes, stackSize) }
        defer { pthread_attr_destroy(&attributes) }
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            CBatchd_name_thread(start.name)
            start.body()
            return nil
        }, context)
        precondition(result == 0, "cannot start thread \(name): \(String(cString: strerror(result)))")
    }

    private final class Start {
        let name: String
        let body: @Sendable () -> Void

        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
