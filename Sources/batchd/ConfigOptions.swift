import ArgumentParser
import BatchdCore
import BatchdHandlers
import FoundationEssentials
import Glibc

/// `--config`, shared by every subcommand: the file, and through it the state directory.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file (default: $BATCHD_CONFIG, then ./batch.yaml).", valueName: "file"))
    var config: String?

    /// `--config`, then `$BATCHD_CONFIG`, then `./batch.yaml`.
    var path: String {
        if let config { return config }
        if let fromEnvironment = ProcessInfo.processInfo.environment["BATCHD_CONFIG"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "batch.yaml"
    }

    func load() -> ConfigLoader.Outcome {
        ConfigLoader(registry: BuiltInJobTypes.registry).load(path: path)
    }

    /// The valid configuration, or the errors printed and the matching exit status thrown
    /// (1 for an invalid file, 2 for one that cannot be read).
    func loadOrExit() throws -> BatchConfig {
        try loadWithBytesOrExit().config
    }

    func loadWithBytesOrExit() throws -> (config: BatchConfig, bytes: [UInt8]) {
        switch load() {
        case .valid(let config, let bytes):
            return (config, bytes)
        case .invalid(let invalid, _):
            Console.error(invalid.description)
            throw ExitCode(1)
        case .unreadable(let error):
            Console.error(error.description)
            throw ExitCode(2)
        }
    }
}

/// Where a command that only needs the state directory finds it: through the configuration
/// when it is valid, and leniently (with a warning) when it is not.
struct StateLocation {
    var stateDirectory: String
    var history: HistorySettings
    /// The configuration, when the file is valid.
    var config: BatchConfig?
    var configPath: String
}

extension ConfigOptions {
    func locateStateOrExit() throws -> StateLocation {
        switch load() {
        case .valid(let config, _):
            return StateLocation(stateDirectory: config.stateDirectory, history: config.history, config: config, configPath: path)
        case .invalid(let invalid, let bytes):
            let directory = StateDirectoryLocator.locate(bytes: bytes, configPath: path)
            Console.error("batchd: warning: \(path) has \(invalid.diagnostics.count) error(s) (batchd validate lists them); using the state directory \(directory)")
            return StateLocation(stateDirectory: directory, history: HistorySettings(), config: nil, configPath: path)
        case .unreadable(let error):
            Console.error(error.description)
            throw ExitCode(2)
        }
    }
}

/// Output helpers: results on stdout, problems on stderr.
enum Console {
    static func error(_ text: String) {
        write(text + "\n", to: STDERR_FILENO)
    }

    static func print(_ text: String, skipEmpty: Bool = false) {
        if skipEmpty && text.isEmpty { return }
        write(text + "\n", to: STDOUT_FILENO)
    }

    /// All of `text`, unbuffered (a pipe may take it in parts).
    private static func write(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }  // a closed pipe: nobody is reading
            offset += written
        }
    }
}
