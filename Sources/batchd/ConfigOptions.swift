import ArgumentParser
import BatchdCore
import BatchdHandlers
import Foundation

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

/// Output helpers: results on stdout, problems on stderr.
enum Console {
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func print(_ text: String, skipEmpty: Bool = false) {
        if skipEmpty && text.isEmpty { return }
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
