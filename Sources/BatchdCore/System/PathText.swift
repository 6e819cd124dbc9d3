import Glibc

/// Path arithmetic on strings, as NSString did it (batchd links only FoundationEssentials).
public enum PathText {
    /// `/a/b` for `/a/b/c`; `.` for a bare name, `/` for `/c`.
    public static func directory(of path: String) -> String {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// `c` for `/a/b/c`.
    public static func lastComponent(of path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// `name` inside `directory`, unless `name` is absolute already.
    public static func join(_ directory: String, _ name: String) -> String {
        if name.hasPrefix("/") || directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Without `.` components, repeated or trailing slashes, and with `..` taking out the
    /// component before it (above `/` it stays at `/`; a relative path keeps leading `..`).
    public static func standardized(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var kept: [Substring] = []
        for component in path.split(separator: "/") where component != "." {
            if component == "..", let last = kept.last, last != ".." {
                kept.removeLast()
            } else if component == ".." && absolute {
                continue
            } else {
                kept.append(component)
            }
        }
        let joined = kept.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// The path with every symbolic link resolved (`realpath`), or the standardized path when
    /// it does not exist.
    public static func resolvingSymlinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return standardized(path) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `mkdir -p`, with the system's reason when it fails.
    public static func createDirectories(_ path: String) throws(SystemCallError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw SystemCallError(errno: errno)
            }
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw SystemCallError(errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw SystemCallError(errno: ENOTDIR) }
    }
}

/// A failed system call's `errno`, described as `strerror` says it.
public struct SystemCallError: Error, CustomStringConvertible {
    public let errno: Int32

    public init(errno: Int32) {
        self.errno = errno
    }

    public var description: String { String(cString: strerror(errno)) }
}
