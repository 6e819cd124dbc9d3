import FoundationEssentials
import Glibc

/// Decodes one job: the settings every job has, then the type's own keys through its handler.
///
/// `defaults:` is the fallback of every job's mapping. Its common settings are checked once in
/// their own right (`checkDefaults`), and its type-specific keys must belong to some job type.
final class JobDecoder {
    let registry: JobTypeRegistry
    let log: DiagnosticLog

    static let scheduleKeys = ["intervalMinutes", "every", "cron"]

    /// Every job's `after:` list with positions, for `DependencyCheck` once all jobs are read.
    private(set) var references: [DependencyCheck.Reference] = []

    init(registry: JobTypeRegistry, log: DiagnosticLog) {
        self.registry = registry
        self.log = log
    }

    func checkDefaults(_ defaults: ConfigMapping) {
        _ = decodeCommon(defaults)
        for key in ["type", "displayName", "after"] where defaults.contains(key, inherit: false) {
            defaults.value(key)?.error("'\(key)' belongs to one job and cannot be a default")
        }
        defaults.reportUnknownKeys(alsoKnown: typeVocabulary)
    }

    /// Every key some job type reads, found once per load by decoding each type against an
    /// empty mapping.
    private lazy var typeVocabulary: [String] = registry.names.flatMap { name -> [String] in
            let scratch = ConfigMapping(node: YAMLNode(.mapping([]), at: .start), path: "", log: DiagnosticLog(file: ""))
            _ = registry.types[name]!.init(settings: scratch)
            return scratch.knownKeys
        }

    func decode(key: YAMLNode, value: YAMLNode, defaults: ConfigMapping?) -> JobConfig? {
        let name = key.scalarText ?? ""
        let path = "jobs.\(name)"
        var ok = true
        if !JobName.isValid(name) {
            log.error("job names are 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (they name files)", at: key.mark, path: path)
            ok = false
        }
        guard case .mapping = value.content else {
            log.error("expected a mapping of the job's settings, got \(value.kindDescription)", at: value.isNull ? key.mark : value.mark, path: path)
            return nil
        }
        let settings = ConfigMapping(node: value, path: path, log: log, anchor: key.mark, fallback: defaults)

        var handlerType: (any JobHandler.Type)?
        var typeName = name
        if let typeValue = settings.value("type", inherit: false) {
            if let text = typeValue.asNonEmptyString() {
                typeName = text
                handlerType = registry.types[text]
                if handlerType == nil {
                    typeValue.error("unknown job type '\(text)'\(Suggestion.hint(for: text, among: registry.names)); built-in types: \(registry.names.joined(separator: ", "))")
                }
            }
        } else if let builtIn = registry.types[name] {
            handlerType = builtIn
        } else {
            settings.error("no 'type:' and '\(name)' is not a built-in type; add e.g. 'type: command' (types: \(registry.names.joined(separator: ", ")))")
        }

        let common = decodeCommon(settings)
        recordReferences(of: name, in: settings, declaredAt: key.mark)
        let handler = handlerType?.init(settings: settings)
        if handlerType == nil {
            // Without a type the type-specific keys cannot be judged; don't call them unknown.
            settings.reportUnknownKeys(alsoKnown: typeVocabulary)
        } else {
            settings.reportUnknownKeys()
        }
        guard ok, let common, let handlerType, let handler else { return nil }
        return JobConfig(
            name: name, type: typeName,
            displayName: common.displayName ?? (name == handlerType.typeName ? handlerType.displayName : name),
            enabled: common.enabled, schedule: common.schedule, after: common.after,
            runOnStart: common.runOnStart, catchUp: common.catchUp, jitter: common.jitter,
            timeout: common.timeout, retry: common.retry, priority: common.priority,
            overlap: common.overlap, notify: common.notify, handler: handler, mark: key.mark
        )
    }

    private func recordReferences(of name: String, in settings: ConfigMapping, declaredAt mark: SourceMark) {
        var targets: [(name: String, mark: SourceMark)] = []
        if let value = settings.value("after") {
            switch value.node.content {
            case .scalar(let text, _): targets = [(text, value.mark)]
            case .sequence(let items): targets = items.compactMap { item in item.scalarText.map { ($0, item.mark) } }
            case .mapping: break
            }
        }
        references.append(.init(job: name, mark: mark, targets: targets))
    }

    /// The settings every job has; nil when any of them is wrong (each problem reported).
    private func decodeCommon(_ settings: ConfigMapping) -> CommonSettings? {
        var common = CommonSettings()
        var ok = true
        func take<T>(_ key: String, _ read: (ConfigValue) -> T?, into field: inout T) {
            guard let value = settings.value(key) else { return }
            if let decoded = read(value) { field = decoded } else { ok = false }
        }
        func takeOptional<T>(_ key: String, _ read: (ConfigValue) -> T?, into field: inout T?) {
            guard let value = settings.value(key) else { return }
            if let decoded = read(value) { field = decoded } else { ok = false }
        }
        take("enabled", { $0.asBool() }, into: &common.enabled)
        takeOptional("displayName", { $0.asNonEmptyString() }, into: &common.displayName)
        take("after", { $0.asStringList() }, into: &common.after)
        take("runOnStart", { $0.asBool() }, into: &common.runOnStart)
        take("catchUp", { $0.asBool() }, into: &common.catchUp)
        take("jitter", { $0.asDuration() }, into: &common.jitter)
        take("timeout", { $0.asDuration(atLeast: .milliseconds(1)) }, into: &common.timeout)
        take("retry", { $0.asMapping().flatMap(self.decodeRetry) }, into: &common.retry)
        take("priority", { $0.asInt(in: -1_000_000...1_000_000) }, into: &common.priority)
        take("overlap", { $0.asChoice(OverlapPolicy.allCases.map(\.rawValue)).flatMap(OverlapPolicy.init) }, into: &common.overlap)
        takeOptional("notify", { $0.asMapping().flatMap(self.decodeNotify) }, into: &common.notify)
        switch decodeSchedule(settings) {
        case .none: common.schedule = nil
        case .some(.some(let schedule)): common.schedule = schedule
        case .some(.none): ok = false
        }
        return ok ? common : nil
    }

    /// nil: no schedule; .some(nil): a schedule that is wrong (reported); .some(s): the schedule.
    private func decodeSchedule(_ settings: ConfigMapping) -> Schedule?? {
        // A job's own schedule replaces the one in defaults rather than clashing with it.
        let own = Self.scheduleKeys.filter { settings.contains($0, inherit: false) }
        let inherit = own.isEmpty
        let present = Self.scheduleKeys.compactMap { key in settings.value(key, inherit: inherit).map { (key, $0) } }
        let timeZoneValue = settings.value("timezone", inherit: inherit)
        if present.count > 1 {
            let names = present.map(\.0).joined(separator: " and ")
            present[1].1.error("a job has at most one schedule: intervalMinutes, every or cron (found \(names))")
            return .some(nil)
        }
        guard let (key, value) = present.first else {
            if let timeZoneValue {
                timeZoneValue.error("'timezone' only applies to a 'cron' schedule")
                return .some(nil)
            }
            return .none
        }
        if key != "cron", let timeZoneValue {
            timeZoneValue.error("'timezone' only applies to a 'cron' schedule, not to '\(key)'")
            return .some(nil)
        }
        switch key {
        case "intervalMinutes":
            return .some(value.asInt(in: 1...1440).map { .interval(.seconds($0 * 60)) })
        case "every":
            return .some(value.asDuration(atLeast: .seconds(1)).map { .interval($0) })
        default:
            guard let text = value.asNonEmptyString() else { return .some(nil) }
            let expression: CronExpression
            do {
                expression = try CronExpression(parsing: text)
            } catch {
                value.error("invalid cron expression: \(error.message)", atOffset: error.offset)
                return .some(nil)
            }
            var timeZone = ZoneRules.local
            var zoneName = "local time, \(ZoneRules.local.identifier)"
            if let timeZoneValue {
                guard let identifier = timeZoneValue.asNonEmptyString() else { return .some(nil) }
                guard let zone = ZoneRules.named(identifier) else {
                    timeZoneValue.error("unknown time zone '\(identifier)'\(zoneHint(for: identifier))")
                    return .some(nil)
                }
                timeZone = zone
                zoneName = identifier
            }
            let zoned = ZonedCron(expression: expression, timeZone: timeZone, zoneName: zoneName)
            if expression.nextMatch(atOrAfter: CivilDate(year: 2024, month: 1, day: 1).dayNumber * 86_400) == nil {
                value.error("'\(text)' never fires (no matching date in \(CronExpression.searchHorizonDays / 366) years)")
                return .some(nil)
            }
            return .some(.cron(zoned))
        }
    }

    private func decodeRetry(_ retry: ConfigMapping) -> RetryPolicy? {
        var policy = RetryPolicy.standard
        var ok = true
        if let value = retry.value("maxAttempts") {
            if let attempts = value.asInt(in: 1...100) { policy.maxAttempts = attempts } else { ok = false }
        }
        if let value = retry.value("initialDelay") {
            if let delay = value.asDuration() { policy.initialDelay = delay } else { ok = false }
        }
        if let value = retry.value("multiplier") {
            if let factor = value.asNumber(atLeast: 1) { policy.multiplier = factor } else { ok = false }
        }
        let maxDelayValue = retry.value("maxDelay")
        if let maxDelayValue {
            if let delay = maxDelayValue.asDuration() { policy.maxDelay = delay } else { ok = false }
        }
        if ok, let maxDelayValue, policy.maxDelay < policy.initialDelay {
            maxDelayValue.error("must not be shorter than initialDelay (\(DurationText.format(policy.initialDelay)))")
            ok = false
        }
        retry.reportUnknownKeys()
        return ok ? policy : nil
    }

    private func decodeNotify(_ notify: ConfigMapping) -> NotifySettings? {
        let webhook = notify.required("webhook", "the URL that receives a JSON POST")?.asHTTPURL()
        var events: Set<NotifySettings.Event> = [.failure, .recovery]
        var ok = true
        if let list = notify.value("on")?.asList() {
            let choices = NotifySettings.Event.allCases.map(\.rawValue)
            let decoded = list.compactMap { $0.asChoice(choices).flatMap(NotifySettings.Event.init) }
            if decoded.count == list.count { events = Set(decoded) } else { ok = false }
        } else if notify.contains("on") {
            ok = false
        }
        notify.reportUnknownKeys()
        guard ok, let webhook else { return nil }
        return NotifySettings(webhook: webhook, on: events)
    }
}

/// The common settings of one job while it is being decoded, with the documented defaults.
private struct CommonSettings {
    var enabled = false
    var displayName: String?
    var schedule: Schedule?
    var after: [String] = []
    var runOnStart = false
    var catchUp = true
    var jitter: Duration = .zero
    /// One hour unless set: a job without a timeout is the hang peers are known for.
    var timeout: Duration = .seconds(3600)
    var retry = RetryPolicy.standard
    var priority = 0
    var overlap = OverlapPolicy.forbid
    var notify: NotifySettings?
}

/// Job names become file names (`runs/<job>.jsonl`), so they are kept to a safe alphabet.
public enum JobName {
    public static func isValid(_ name: String) -> Bool {
        guard (1...100).contains(name.count), let first = name.unicodeScalars.first,
              first.isASCII, first.properties.isAlphabetic || ("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0))
        }
    }
}

/// A near name when there is one; on a machine without the zone database, where to get it.
private func zoneHint(for identifier: String) -> String {
    let known = ZoneRules.knownIdentifiers()
    guard known.count > 1 else {
        return "; there is no time zone database in \(ZoneRules.databaseDirectory) (install Debian's tzdata), so only UTC is known"
    }
    return "\(Suggestion.hint(for: identifier, among: known)); use an IANA name such as Europe/Berlin or UTC"
}
