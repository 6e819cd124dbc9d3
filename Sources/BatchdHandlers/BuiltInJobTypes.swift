import BatchdCore

/// The job types batchd ships. A new type is one file with a `JobHandler` and one line here.
public enum BuiltInJobTypes {
    public static let registry = JobTypeRegistry([
        DockerHubPullJob.self,
        TrackedAppsCheckJob.self,
        CommandJob.self,
        HTTPRequestJob.self,
        NoopJob.self,
    ])
}
