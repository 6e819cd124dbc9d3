import BatchdCore
import FoundationEssentials
import Glibc
import Synchronization

/// `type: command`: runs a program (argv, no shell) or a `/bin/sh -c` line.
public struct CommandJob: JobHandler {
    public static let typeName = "command"
    public static let displayName = "Command"

    public enum Invocation: Sendable, Hashable {
        case argv([String])
        case shell(String)
    }

    public var invocation: Invocation
    /// Added to (and overriding) the daemon's environment for the child, in file order.
    public var environment: [(name: String, value: String)]
    public var workingDirectory: String?

    public init?(settings: ConfigMapping) {
        let commandValue = settings.value("command")
        let argv = commandValue?.asStringList()
        let shellValue = settings.value("shell")
        let shell = shellValue?.asNonEmptyString()
        let environment = settings.value("env")?.asStringMap { name in
            EnvironmentName.isValid(name) ? nil : "'\(name)' is not a valid environment variable name"
        }
        workingDirectory = settings.value("workingDirectory")?.asNonEmptyString()
        self.environment = (environment ?? []).map { (name: $0.key, value: $0.value) }

        switch (argv, shell) {
        case (let argv?, nil):
            guard let program = argv.first, !program.isEmpty else {
                commandValue?.error("the command list needs at least the program to run")
                return nil
            }
            invocation = .argv(argv)
        case (nil, let shell?):
            invocation = .shell(shell)
        case (.some, .some):
            shellValue?.error("set either 'command' (a list, no shell) or 'shell' (a /bin/sh line), not both")
            return nil
        case (nil, nil):
            if commandValue == nil && shellValue == nil {
                settings.error("a command job needs 'command: [program, args...]' or 'shell: \"...\"'")
            }
            return nil
        }
    }

    public var publicSettings: [(String, JSONValue)] {
        var settings: [(String, JSONValue)]
        switch invocation {
        case .argv(let argv): settings = [("command", .array(argv.map(JSONValue.string)))]
        case .shell(let line): settings = [("shell", .string(line))]
        }
        if !environment.isEmpty { settings.append(("env", .object(environment.map { ($0.name, .string($0.value)) }))) }
        if let workingDirectory { settings.append(("workingDirectory", .string(workingDirectory))) }
        return settings
    }

    /// How long a job's processes get after SIGTERM before SIGKILL (SPEC section 3).
    static let killGrace: Duration = .seconds(10)

    public func run(_ context: JobContext) async throws -> JobResult {
        let argv: [String]
        switch invocation {
        case .argv(let command): argv = command
        case .shell(let line): argv = ["/bin/sh", "-c", line]
        }
        var childEnvironment = context.environment
        for (name, value) in environment { childEnvironment[name] = value }
        let logger = context.logger
        let lastLine = LastLine()
        let termination: ChildProcess.Termination
        do {
            termination = try await ChildProcess.run(
                argv, environment: childEnvironment,
                workingDirectory: workingDirectory.map(context.resolve),
                killGrace: Self.killGrace
            ) { stream, line in
                switch stream {
                case .stdout:
                    logger.info("\(line)", metadata: ["stream": "stdout"])
                    if !line.trimmingSpaces().isEmpty { lastLine.set(line) }
                case .stderr:
                    logger.warning("\(line)", metadata: ["stream": "stderr"])
                }
            }
        } catch {
            throw JobFailure(error.description)
        }
        if termination.leftoversEnded {
            logger.warning("processes the command left running in its group were ended")
        }
        let reported = Self.counters(fromLastLine: lastLine.value)
        guard termination.succeeded else {
            throw JobFailure("\(argv[0]) \(termination.summary)", partial: reported)
        }
        return reported ?? JobResult()
    }

    /// A last stdout line that is a JSON object with `itemsChecked`/`itemsUpdated` sets them;
    /// the object itself becomes the run's `result`.
    static func counters(fromLastLine line: String?) -> JobResult? {
        guard let line, line.hasPrefix("{"), let value = try? JSONParser.parse(line),
              case .object = value, value["itemsChecked"] != nil || value["itemsUpdated"] != nil else { return nil }
        return JobResult(
            itemsChecked: Int(value["itemsChecked"]?.intValue ?? 0),
            itemsUpdated: Int(value["itemsUpdated"]?.intValue ?? 0),
            result: value
        )
    }
}

/// The last non-empty stdout line, written by the output thread and read after the end.
private final class LastLine: Sendable {
    private let line = Mutex<String?>(nil)

    func set(_ text: String) {
        line.withLock { $0 = text }
    }

    var value: String? {
        line.withLock { $0 }
    }
}
