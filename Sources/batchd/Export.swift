import ArgumentParser
import BatchdCore
import FoundationEssentials
import Glibc

extension Batchd {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the jobs of batch.yaml as systemd timers or Kubernetes CronJobs that run `batchd once`.",
            subcommands: [Systemd.self, Kubernetes.self]
        )
    }
}

extension Batchd.Export {
    struct Systemd: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a .service and a .timer per job (into --output, or all to stdout)."
        )

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: ArgumentHelp("A folder to write the units into (for /etc/systemd/system); default: stdout.", valueName: "folder"))
        var output: String?

        @Option(name: .long, help: ArgumentHelp("The batchd binary the units run.", valueName: "path"))
        var binary = "/usr/local/bin/batchd"

        @OptionGroup var selection: ExportSelection

        func run() throws {
            let (config, _) = try options.loadWithBytesOrExit()
            let jobs = try selection.jobs(in: config)
            let path = URL(fileURLWithPath: options.path).standardizedFileURL.path
            let (units, warnings) = SystemdExport(config: config, configPath: path, binary: binary).units(jobs: jobs)
            ExportOutput.warn(warnings)
            try ExportOutput.write(units.map { ($0.name, $0.text) }, to: output, separator: { "# ---- \($0) ----\n" })
        }
    }

    struct Kubernetes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a ConfigMap, a volume claim and a CronJob per job as one YAML stream (kubectl apply -f -)."
        )

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: ArgumentHelp("A file to write the manifests into; default: stdout.", valueName: "file"))
        var output: String?

        @Option(name: .long, help: ArgumentHelp("The container image with batchd in it.", valueName: "image"))
        var image = "batchd:\(BatchdInfo.version)"

        @Option(name: .long, help: ArgumentHelp("The namespace of the manifests; default: kubectl's.", valueName: "namespace"))
        var namespace: String?

        @OptionGroup var selection: ExportSelection

        func run() throws {
            let (config, bytes) = try options.loadWithBytesOrExit()
            let jobs = try selection.jobs(in: config)
            let (yaml, warnings) = KubernetesExport(config: config, configBytes: bytes, image: image, namespace: namespace).manifests(jobs: jobs)
            ExportOutput.warn(warnings)
            if let output {
                try ExportOutput.write([(PathText.lastComponent(of: output), yaml)], to: PathText.directory(of: output), separator: { _ in "" })
            } else {
                try ExportOutput.write([("", yaml)], to: nil, separator: { _ in "" })
            }
        }
    }
}

/// `--job`, for both exports.
struct ExportSelection: ParsableArguments {
    @Option(name: .customLong("job"), help: ArgumentHelp("Only this job (repeatable); default: every enabled job.", valueName: "job"))
    var names: [String] = []

    /// The jobs asked for, each checked against batch.yaml (nil: every enabled job).
    func jobs(in config: BatchConfig) throws -> [String]? {
        for name in names { _ = try config.jobOrExit(name) }
        return names.isEmpty ? nil : names
    }
}

/// Files into a folder, or all to stdout, each after its separator line.
enum ExportOutput {
    /// What an export could not carry over (a job setting the target has no place for).
    static func warn(_ warnings: [String]) {
        for warning in warnings { Console.error("batchd: warning: \(warning)") }
    }

    static func write(_ files: [(name: String, text: String)], to folder: String?, separator: (String) -> String) throws {
        guard let folder else {
            Console.print(files.map { separator($0.name) + $0.text }.joined(separator: "\n"), skipEmpty: true)
            return
        }
        do {
            try PathText.createDirectories(folder)
        } catch {
            Console.error("batchd: error: cannot create \(folder): \(error)")
            throw ExitCode(1)
        }
        for file in files {
            do {
                try AtomicFile.write(Array(file.text.utf8), to: PathText.join(folder, file.name), sync: false)
            } catch {
                Console.error("batchd: error: \(error)")
                throw ExitCode(1)
            }
        }
        Console.error("wrote \(files.map(\.name).joined(separator: ", ")) into \(folder)")
    }
}
