import ArgumentParser
import BatchdCore

/// The `batchd` command. The root only lists subcommands; each lives in its own file.
@main
struct Batchd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchd",
        abstract: "A config-file-driven batch job runner: jobs in batch.yaml, runs in JSON Lines.",
        version: BatchdInfo.version,
        subcommands: [Run.self, Validate.self, Once.self, Trigger.self, Cancel.self, Next.self]
    )
}
