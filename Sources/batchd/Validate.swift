import ArgumentParser

extension Batchd {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check batch.yaml and print every problem (exit 0 valid, 1 invalid, 2 unreadable)."
        )

        @OptionGroup var options: ConfigOptions

        func run() throws {
            _ = try options.loadOrExit()
        }
    }
}
