import ArgumentParser
import BatchdCore

/// The `batchd` command. The root only lists subcommands; each lives in its own file.
///
/// Synchronous on purpose: an async `main` runs the process under `dispatch_main`, whose timer
/// wakes an idle daemon once a second; `BlockingAsync` runs async work from a plain `main`
/// that sleeps on a semaphore. Tasks run on `QuietExecutors`, not libdispatch's pool, whose
/// monitor timer would wake the process once a second too: an idle daemon makes no system calls.
@main
struct Batchd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batchd",
        abstract: "A config-file-driven batch job runner: jobs in batch.yaml, runs in JSON Lines.",
        version: BatchdInfo.version,
        subcommands: [Run.self, Validate.self, Once.self, Trigger.self, Cancel.self, Runs.self, Status.self, Next.self, Reindex.self, Export.self]
    )

    static func main() {
        QuietExecutors.install()  // before the first task
        main(nil)
    }
}
