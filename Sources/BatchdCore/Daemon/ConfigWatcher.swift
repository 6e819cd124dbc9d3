import CBatchdSystem
import FoundationEssentials
import Glibc

/// Watches batch.yaml for changes with Linux inotify, on a thread that sleeps in `read`.
///
/// It watches the file's folder, not the file: editors save by renaming a new file over the old
/// one, `sed -i` does the same, and a Kubernetes ConfigMap update swaps a `..data` symlink in
/// the folder; none of those is an event on the old file. When batch.yaml resolves through
/// symlinks into another folder, that folder is watched too. Any event counts; a burst (one
/// save is several events) ends when the folder has been quiet for `quietPeriod`, and then
/// `onChange` runs once. Whether the content really changed is the reload's business.
public final class ConfigWatcher: @unchecked Sendable {  // fd set once; the thread owns the rest
    public static let quietPeriod: Duration = .milliseconds(10)

    private let fd: Int32
    private let onChange: @Sendable () -> Void

    public init?(path: String, onChange: @escaping @Sendable () -> Void) {
        self.onChange = onChange
        fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
        var folders: Set<String> = [PathText.directory(of: Self.absolute(path))]
        folders.insert(PathText.directory(of: PathText.resolvingSymlinks(Self.absolute(path))))
        for folder in folders {
            _ = inotify_add_watch(fd, folder, mask)
        }
        OSThread.start(name: "batchd-config-watch") { [self] in watch() }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private func watch() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let quietMs = Int64(Self.quietPeriod.components.seconds * 1000 + Self.quietPeriod.components.attoseconds / 1_000_000_000_000_000)
        while true {
            // Block until the first event of a burst...
            guard read(fd, &buffer, buffer.count) > 0 else {
                if errno == EINTR { continue }
                return
            }
            // ...then drain until the folder has been quiet for the quiet period.
            while CBatchd_wait_readable_ms(fd, Int32(quietMs)) > 0 {
                _ = read(fd, &buffer, buffer.count)
            }
            onChange()
        }
    }
}
