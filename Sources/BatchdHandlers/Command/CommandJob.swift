import BatchdCore

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
}
