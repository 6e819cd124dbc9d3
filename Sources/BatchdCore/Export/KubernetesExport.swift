import FoundationEssentials
import Glibc

/// `batchd export kubernetes`: the jobs of batch.yaml as Kubernetes CronJobs, each run being
/// `batchd once JOB --json` in a pod, beside the ConfigMap holding batch.yaml itself and the
/// volume claim for the state directory, so that the history stays one set of JSON Lines files
/// and each run's line also reaches the cluster's log collector through stdout.
///
/// What maps: `cron` (five fields, or six whose seconds are 0) → `schedule` with `timeZone`;
/// intervals that divide an hour or a day → `*/N` schedules; `overlap: forbid` →
/// `concurrencyPolicy: Forbid`; `timeout` → `activeDeadlineSeconds`; `retry.maxAttempts` →
/// `backoffLimit`; `catchUp` → a `startingDeadlineSeconds` wide enough for a late start. Jobs
/// that do not map (other intervals, `after:` chains, no schedule) are left out with a warning.
public struct KubernetesExport: Sendable {
    public let config: BatchConfig
    /// The bytes of batch.yaml, for the ConfigMap.
    public let configBytes: [UInt8]
    public let image: String
    public let namespace: String?

    public init(config: BatchConfig, configBytes: [UInt8], image: String, namespace: String?) {
        self.config = config
        self.configBytes = configBytes
        self.image = image
        self.namespace = namespace
    }

    static let configMount = "/etc/batchd"
    static let defaultStateMount = "/var/lib/batchd"

    /// The manifests as one YAML stream (documents separated by `---`), and what was left out.
    public func manifests(jobs selected: [String]? = nil) -> (yaml: String, warnings: [String]) {
        var warnings: [String] = []
        // batch.yaml is mounted read-only in the pod: the state must live elsewhere.
        let statePath: String
        if config.stateDirectory.hasPrefix(config.directory + "/") || config.stateDirectory == config.directory {
            statePath = Self.defaultStateMount
            warnings.append("stateDir is relative to batch.yaml, whose folder is a read-only ConfigMap in the pod: set stateDir: \(Self.defaultStateMount) (the volume is mounted there)")
        } else {
            statePath = config.stateDirectory
        }
        var documents = [configMap(), stateClaim()]
        for job in config.jobs where selected?.contains(job.name) ?? job.enabled {
            guard job.after.isEmpty else {
                warnings.append("\(job.name): after: \(job.after.joined(separator: ", ")) has no CronJob form; left out (keep batchd's daemon for chains)")
                continue
            }
            guard let schedule = job.schedule else {
                warnings.append("\(job.name): no schedule; left out (kubectl create job --from=cronjob/... runs a CronJob by hand)")
                continue
            }
            let cron: (schedule: String, zone: String?)
            switch Self.cronSchedule(schedule) {
            case .success(let value): cron = value
            case .failure(let reason):
                warnings.append("\(job.name): \(reason); left out")
                continue
            }
            if job.overlap == .queue { warnings.append("\(job.name): overlap: queue becomes concurrencyPolicy: Forbid (a start while it runs is skipped)") }
            if job.jitter > .zero { warnings.append("\(job.name): jitter has no CronJob form; spread the schedules by hand") }
            documents.append(cronJob(job, schedule: cron.schedule, zone: cron.zone, statePath: statePath))
        }
        return (documents.joined(separator: "---\n"), warnings)
    }

    /// A CronJob schedule for a batchd schedule, or why there is none.
    public static func cronSchedule(_ schedule: Schedule) -> Result<(schedule: String, zone: String?), ExportRefusal> {
        switch schedule {
        case .cron(let zoned):
            var fields = zoned.expression.text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if fields.count == 6 {
                guard fields[0] == "0" else { return .failure(.init("a cron expression with seconds (\(zoned.expression.text)) has no CronJob form")) }
                fields.removeFirst()
            }
            // No timezone in batch.yaml means local time where batchd runs: this machine's zone,
            // since a cluster's controller runs in UTC.
            return .success((fields.joined(separator: " "), zoned.isLocalTime ? zoned.timeZone.identifier : zoned.zoneName))
        case .interval(let period):
            let minutes = period.milliseconds / 60_000
            guard period.milliseconds % 60_000 == 0, minutes > 0 else {
                return .failure(.init("every \(DurationText.format(period)) is not whole minutes"))
            }
            if minutes < 60, 60 % minutes == 0 { return .success((minutes == 1 ? "* * * * *" : "*/\(minutes) * * * *", nil)) }
            if minutes == 60 { return .success(("0 * * * *", nil)) }
            if minutes % 60 == 0, 24 % (minutes / 60) == 0 { return .success((minutes == 1440 ? "0 0 * * *" : "0 */\(minutes / 60) * * *", nil)) }
            return .failure(.init("every \(DurationText.format(period)) divides neither an hour nor a day, so no cron schedule matches it"))
        }
    }

    public struct ExportRefusal: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: Documents

    private func metadata(_ name: String, indent: String = "") -> String {
        var text = "\(indent)metadata:\n\(indent)  name: \(name)\n"
        if let namespace { text += "\(indent)  namespace: \(Self.quoted(namespace))\n" }
        text += "\(indent)  labels:\n\(indent)    app.kubernetes.io/name: batchd\n"
        return text
    }

    private func configMap() -> String {
        let body = String(decoding: configBytes, as: UTF8.self)
        let indented = body.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    \($0)" }.joined(separator: "\n")
        return "# batch.yaml itself; edit it here (or in git) and batchd's CronJobs use it at their next run.\n"
            + "apiVersion: v1\nkind: ConfigMap\n" + metadata("batchd-config")
            + "data:\n  batch.yaml: |\n\(indented.hasSuffix("\n") ? indented : indented + "\n")"
    }

    private func stateClaim() -> String {
        "# The state directory: history (JSON Lines), index, handler state. ReadWriteMany, since\n"
            + "# the jobs' pods may run at once on different nodes.\n"
            + "apiVersion: v1\nkind: PersistentVolumeClaim\n" + metadata("batchd-state")
            + "spec:\n  accessModes: [ReadWriteMany]\n  resources:\n    requests:\n      storage: 1Gi\n"
    }

    private func cronJob(_ job: JobConfig, schedule: String, zone: String?, statePath: String) -> String {
        var text = "# batchd job \(job.name) (\(job.displayName)); each run is `batchd once`, recorded in the state volume.\n"
            + "apiVersion: batch/v1\nkind: CronJob\n" + metadata("batchd-\(Self.dnsName(job.name))")
            + "spec:\n  schedule: \(Self.quoted(schedule))\n"
        if let zone { text += "  timeZone: \(Self.quoted(zone))\n" }
        text += """
          concurrencyPolicy: Forbid
          startingDeadlineSeconds: \(job.catchUp ? 3600 : 60)
          successfulJobsHistoryLimit: 3
          failedJobsHistoryLimit: 3
          jobTemplate:
            spec:
              backoffLimit: \(max(0, job.retry.maxAttempts - 1))
              activeDeadlineSeconds: \(max(1, job.timeout.milliseconds / 1000))
              template:
                metadata:
                  labels:
                    app.kubernetes.io/name: batchd
                    batchd/job: \(Self.quoted(job.name))
                spec:
                  restartPolicy: Never
                  containers:
                    - name: batchd
                      image: \(Self.quoted(image))
                      args: [once, \(Self.quoted(job.name)), --config, \(Self.configMount)/batch.yaml, --json, --log-format, json]
                      envFrom:
                        - secretRef: { name: batchd-secrets, optional: true }
                      volumeMounts:
                        - { name: config, mountPath: \(Self.configMount), readOnly: true }
                        - { name: state, mountPath: \(Self.quoted(statePath)) }
                  volumes:
                    - name: config
                      configMap: { name: batchd-config }
                    - name: state
                      persistentVolumeClaim: { claimName: batchd-state }

        """
        return text
    }

    /// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
    static func quoted(_ text: String) -> String {
        JSONWriter.string(.string(text))
    }

    /// Job names may hold `_` and `.`; Kubernetes names are lowercase DNS labels.
    static func dnsName(_ name: String) -> String {
        String(name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(52))
    }
}
