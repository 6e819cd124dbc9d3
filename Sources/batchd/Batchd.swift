import ArgumentParser

/// The `batchd` command. The root only lists subcommands; each lives in its own file.
@main
struct Batchd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchd",
        abstract: "A config-file-driven batch job runner: jobs in batch.yaml, runs in JSON Lines.",
        version: BatchdVersion.current,
        subcommands: [Run.self, Validate.self, Next.self]
    )
}

enum BatchdVersion {
    static let current = "0.1.0"
}
