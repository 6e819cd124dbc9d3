import BatchdTestKit
import Foundation
import Testing

/// The HTTP listener of the built binary: where it says it listens, metrics across reloads,
/// promtool on what it really serves, a port already taken, a listener open to the network.
@Suite("The HTTP listener of the daemon")
struct HTTPDaemonTests {
    static let config = """
    http: { listen: "127.0.0.1:0" }
    history: { fsync: false }
    jobs:
      tick: { type: command, enabled: true, every: 1s, shell: 'echo tick' }

    """

    /// The port from the daemon's "http: listening on 127.0.0.1:PORT" line.
    static func port(of daemon: DaemonProcess) throws -> Int {
        let index = try #require(daemon.waitForLine("http: listening on 127.0.0.1:"))
        let line = daemon.log[index]
        let digits = line.split(separator: "listening on 127.0.0.1:")[1].prefix { $0.isNumber }
        return try #require(Int(digits))
    }

    static func get(_ port: Int, _ path: String) throws -> RawResponse? {
        try RawConnection.exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    }

    @Test func metricsCountAcrossReloadsAndPassPromtool() throws {
        let daemon = try DaemonProcess(config: Self.config)
        let port = try Self.port(of: daemon)
        let started = try #require(daemon.waitForLine("batchd 0.1.0 started"))
        #expect(started > (daemon.log.firstIndex { $0.contains("http: listening") } ?? .max), "listening is said before started")
        #expect(try Self.get(port, "/healthz")?.status == 200)
        let first = daemon.waitForLine("run recorded", "job=tick") ?? 0
        let second = daemon.waitForLine("run recorded", "job=tick", after: first + 1) ?? 0

        // A valid reload, then a refused one: the run counts go on.
        let file = daemon.folder.url.appendingPathComponent("batch.yaml").path
        try (Self.config + "  other: { type: command, shell: 'true' }\n").write(toFile: file, atomically: false, encoding: .utf8)
        let reloaded = daemon.waitForLine("reload (file changed): +other", after: second) ?? 0
        try (Self.config + "  broken: { type: comand }\n").write(toFile: file, atomically: false, encoding: .utf8)
        let refused = daemon.waitForLine("reload (file changed) refused: the previous configuration", after: reloaded) ?? 0
        let after = daemon.waitForLine("run recorded", "job=tick", after: refused) ?? 0
        let metrics = try #require(try Self.get(port, "/metrics")).bodyText
        let recorded = daemon.log[...after].filter { $0.contains("run recorded") && $0.contains("job=tick") }.count
        let counted = try #require(Self.value(of: #"batchd_job_runs_total{job="tick",status="completed"}"#, in: metrics))
        #expect(Int(counted) >= recorded, "every run logged as recorded is counted, before and after the reloads")
        #expect(Self.value(of: #"batchd_config_reloads_total{result="success"}"#, in: metrics) == 1)
        #expect(Self.value(of: #"batchd_config_reloads_total{result="failure"}"#, in: metrics) == 1)
        #expect(Self.value(of: "batchd_config_last_reload_success", in: metrics) == 0)
        #expect(Self.value(of: #"batchd_job_runs_total{job="other",status="completed"}"#, in: metrics) == 0, "a job added by a reload starts at zero")

        let promtool = "/usr/bin/promtool"
        try #require(FileManager.default.isExecutableFile(atPath: promtool), "promtool comes with Debian's prometheus package (scripts/install-deps --test)")
        let saved = try daemon.folder.write("metrics.txt", metrics)
        let check = try BatchdProcess.runTool(promtool, ["check", "metrics"], stdin: saved)
        #expect(check.status == 0 && check.stdout.isEmpty && check.stderr.isEmpty, "promtool: \(check.stdout) \(check.stderr)")

        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
        let reconnected = try? RawConnection(port: port, timeout: 1)
        #expect(reconnected == nil, "the port is closed once the daemon has stopped")
    }

    @Test func aPortAlreadyTakenStopsTheStartWithAClearError() throws {
        let first = try DaemonProcess(config: Self.config)
        let port = try Self.port(of: first)
        let second = try DaemonProcess(config: """
        http: { listen: "127.0.0.1:\(port)" }
        jobs: {}
        """)
        #expect(second.exitStatus() == 1)
        second.waitForLine("cannot listen on 127.0.0.1:\(port) (http.listen):", "Address already in use")
        #expect(try Self.get(port, "/healthz")?.status == 200, "the first daemon is untouched")
        first.signal(SIGTERM)
        #expect(first.exitStatus() == 0)
    }

    @Test func aListenerOpenToTheNetworkWithoutATokenIsWarnedAbout() throws {
        let daemon = try DaemonProcess(config: """
        http: { listen: "0.0.0.0:0", tokenEnv: NOT_SET_ANYWHERE }
        jobs: {}
        """)
        daemon.waitForLine("http.tokenEnv names NOT_SET_ANYWHERE, which is not set")
        daemon.waitForLine("not a loopback address: anyone who can reach it can read")
        daemon.waitForLine("batchd 0.1.0 started")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    /// A started daemon with the listener on and one job due next New Year: nothing it does but
    /// answer requests, so what they cost is all there is to measure.
    static func startedWithNothingDueSoon() throws -> (DaemonProcess, Int) {
        let daemon = try DaemonProcess(config: """
        http: { listen: "127.0.0.1:0" }
        jobs:
          yearly: { type: command, enabled: true, cron: '0 0 1 1 *', command: ['true'] }
        """)
        let port = try port(of: daemon)
        daemon.waitForLine("batchd 0.1.0 started")
        return (daemon, port)
    }

    /// One request maps megabytes of the program's pages (SwiftNIO's path through it is spread
    /// over the binary, and the kernel maps 64 KiB around each page touched); once requests
    /// stop and nothing is due, they go back (`RequestPageRelease`), where before they stayed.
    @Test func thePagesARequestMappedGoBackOnceRequestsStop() throws {
        let (daemon, port) = try Self.startedWithNothingDueSoon()
        // Start-up's own pages go first (the status writer's release once it is over).
        let settled = try #require(daemon.waitForResident("RssFile:", atMost: 3_072), "start-up's pages went back")
        try #require(settled <= 3_072, "start-up's file pages stayed at \(settled) KiB")

        #expect(try Self.get(port, "/healthz")?.status == 200)
        let mapped = try #require(daemon.residentKiB("RssFile:"))
        try #require(mapped >= settled + 2_048, "one request mapped \(mapped - settled) KiB of file pages, not the megabytes this test is about")

        let after = try #require(daemon.waitForResident("RssFile:", atMost: settled + 1_024))
        #expect(after <= settled + 1_024, "file pages: \(settled) KiB before the request, \(mapped) KiB after it, still \(after) KiB 30 s later")
        #expect(try Self.get(port, "/healthz")?.status == 200, "the daemon answers once its pages are gone")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    /// Answers leave nothing behind: 30,000 requests in a row on one connection, and resident
    /// memory is where it was after the first 2,000. The page release once cost a sleeping task
    /// per answer, and those stayed for the whole 5 s delay (80 MB after ten seconds of wrk).
    @Test func manyAnswersInARowLeaveNoMemoryBehind() throws {
        let (daemon, port) = try Self.startedWithNothingDueSoon()
        let connection = try RawConnection(port: port)
        func ask(_ count: Int) throws {
            for number in 1...count {
                #expect(connection.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"))
                try #require(connection.receiveResponse()?.status == 200, "answer \(number) of \(count)")
            }
        }
        try ask(2_000)  // the heap and the pages of the path reach their size
        let before = try #require(daemon.residentKiB())
        try ask(30_000)
        let after = try #require(daemon.residentKiB())
        print("30,000 answers in a row: RSS \(before) KiB before, \(after) KiB after")
        #expect(after <= before + 2_048, "RSS \(before) KiB before 30,000 answers, \(after) KiB after them")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    /// The sample value of `series` (the whole series text, labels included) in `metrics`.
    static func value(of series: String, in metrics: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}
