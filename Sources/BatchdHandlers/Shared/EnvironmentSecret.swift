import BatchdCore

/// A secret a job reads from the variable its `...Env` key names (SPEC: secrets never appear
/// in batch.yaml). Errors name the variable, never a value.
enum EnvironmentSecret {
    static func value(of variable: String?, key: String, in context: JobContext) throws -> String? {
        guard let variable else { return nil }
        guard let value = context.environment[variable], !value.isEmpty else {
            throw JobFailure("\(key) names \(variable), which is not set in batchd's environment")
        }
        return value
    }
}
