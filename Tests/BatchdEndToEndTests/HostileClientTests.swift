import BatchdCore
import BatchdTestKit
import Foundation
import Synchronization
import Testing

/// Thousands of malformed, truncated, oversized and slow requests against the built daemon,
/// while a prober asks `/healthz` every 20 ms: the daemon never crashes, 99 % of the probes are
/// answered within 100 ms and every one within a second, and its memory returns to where it was.
/// (On a loaded machine the prober's own process is descheduled now and then: in one loaded
/// end-to-end run a single probe took 139 ms. A daemon that slow clients held up would slow
/// many probes, not one.) `make test` sends 2,000 bad requests beside 200 slow connections;
/// `make stress` 20,000 beside 400.
@Suite("Hostile HTTP clients")
struct HostileClientTests {
    static let stress = ProcessInfo.processInfo.environment["BATCHD_STRESS"] != nil
    static let badRequests = stress ? 20_000 : 2_000
    static let slowConnections = stress ? 400 : 200

    /// The kinds of bad request: what is sent.
    static let kinds: [(name: String, make: @Sendable (inout SystemRandomNumberGenerator) -> [UInt8])] = [
        ("random bytes", { random in (0..<Int.random(in: 1...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) } }),
        ("bad request line", { random in Array(["GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/7.0\r\n\r\n", " / HTTP/1.1\r\n\r\n",
                                                 "GET /\u{00}x HTTP/1.1\r\n\r\n"].randomElement(using: &random)!.utf8) }),
        ("huge header", { _ in Array("GET /api/batch/status HTTP/1.1\r\nHost: x\r\nX-Huge: \(String(repeating: "h", count: 40_000))\r\n\r\n".utf8) }),
        ("many headers", { _ in Array(("GET /healthz HTTP/1.1\r\n" + (0..<500).map { "X-\($0): v\r\n" }.joined() + "\r\n").utf8) }),
        ("oversized body", { _ in Array("POST /api/batch/trigger HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n{\"jobType\":".utf8) }),
        ("truncated", { random in
            let whole = Array("GET /api/batch/runs?limit=5 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            return Array(whole.prefix(Int.random(in: 1..<whole.count, using: &random)))
        }),
        ("bad escapes", { _ in Array("GET /api/batch/runs?limit=%G0&jobType=%%% HTTP/1.1\r\nHost: x\r\n\r\n".utf8) }),
        ("bad chunking", { _ in Array("POST /api/batch/trigger HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n".utf8) }),
        ("bad json", { _ in Array("POST /api/batch/trigger HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"jobTyp\u{FF}".utf8) }),
        ("unknown path", { random in Array("GET /\(UInt64.random(in: 0...UInt64.max, using: &random)) HTTP/1.1\r\nHost: x\r\n\r\n".utf8) }),
    ]

    /// What one attack saw.
    struct Attack {
        var probes: [(ok: Bool, milliseconds: Double)]
        var answered: Int
        var waitedFor: Int
        var dropped: Int
    }

    @Test func theDaemonSurvivesAndKeepsAnsweringHealthz() throws {
        let daemon = try DaemonProcess(config: """
        http: { listen: "127.0.0.1:0", requestTimeout: 2s, idleTimeout: 5s, maxConnections: 2000 }
        history: { fsync: false }
        jobs:
          tick: { type: command, enabled: true, every: 1s, shell: 'echo tick' }
        """)
        let port = try HTTPDaemonTests.port(of: daemon)
        daemon.waitForLine("batchd 0.1.0 started")
        // A short attack of the same shape first: the baseline then includes what a process
        // keeps after its busiest moment by design (the allocator's free lists, buffers the
        // event loops pool), so what is compared after the real attack is growth: a leak.
        let warmUp = try Self.attack(port: port, badRequests: Self.badRequests, slowConnections: Self.slowConnections)
        #expect(warmUp.probes.filter { !$0.ok }.isEmpty)
        let baselineFDs = try Self.settledFiles(daemon.pid, atMost: nil)
        let baseline = try #require(daemon.residentKiB())

        let attack = try Self.attack(port: port, badRequests: Self.badRequests, slowConnections: Self.slowConnections)
        #expect(kill(daemon.pid, 0) == 0, "the daemon is alive")
        #expect(attack.probes.count > 20)
        let failedProbes = attack.probes.filter { !$0.ok }.count
        #expect(failedProbes == 0, "\(failedProbes) of \(attack.probes.count) probes failed")
        let times = attack.probes.map(\.milliseconds).sorted()
        let slowest = times.last ?? 0
        let p99 = times.isEmpty ? 0 : times[(times.count * 99) / 100]
        #expect(p99 < 100, "99 % of the /healthz probes took up to \(p99) ms")
        #expect(slowest < 1_000, "the slowest /healthz took \(slowest) ms")
        #expect(attack.answered == attack.waitedFor, "every bad request that waited got an answer (400, 404, 413, 431)")
        #expect(attack.dropped >= Self.slowConnections, "slow clients are dropped")

        // Once the connections are gone, memory is back where it was.
        let files = try Self.settledFiles(daemon.pid, atMost: baselineFDs + 5)
        #expect(files <= baselineFDs + 5, "connections are closed: \(files) descriptors against \(baselineFDs)")
        let after = try #require(daemon.residentKiB())
        print("hostile clients: \(Self.badRequests) bad requests, \(Self.slowConnections) slow connections; "
              + "RSS \(baseline) KiB before, \(after) KiB after; /healthz p99 \(p99) ms, slowest \(slowest) ms over \(attack.probes.count) probes")
        #expect(after <= baseline + 2_048, "RSS \(baseline) KiB before, \(after) KiB after (2 MiB allowed for the allocator)")

        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    /// Bad requests from two threads, slow clients beside them, and a prober asking /healthz
    /// every 20 ms throughout; returns once every slow client has been dropped at least once.
    static func attack(port: Int, badRequests: Int, slowConnections: Int) throws -> Attack {
        let stop = Atomic<Bool>(false)
        let probes = Mutex<[(ok: Bool, milliseconds: Double)]>([])
        let proberDone = Atomic<Bool>(false)
        let prober = Thread {
            let clock = ContinuousClock()
            while !stop.load(ordering: .relaxed) {
                let start = clock.now
                let answer = try? RawConnection.exchange(port: port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 2)
                let took = (clock.now - start).milliseconds
                probes.withLock { $0.append((answer?.status == 200, Double(took))) }
                usleep(20_000)
            }
            proberDone.store(true, ordering: .relaxed)
        }
        prober.start()

        // Slow clients: each sends one byte a second of a request it never finishes, and is
        // replaced when the daemon drops it (after requestTimeout).
        let slowDone = Atomic<Bool>(false)
        let dropped = Atomic<Int>(0)
        let slow = Thread {
            lowerPriority()
            let request = Array("GET /api/batch/status HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            var open: [(RawConnection, Int)] = []
            while !stop.load(ordering: .relaxed) {
                while open.count < slowConnections, let connection = try? RawConnection(port: port, timeout: 1) {
                    open.append((connection, 0))
                }
                open = open.compactMap { connection, sent in
                    guard connection.send([request[sent % request.count]]) else {
                        dropped.add(1, ordering: .relaxed)
                        return nil
                    }
                    return (connection, sent + 1)
                }
                sleep(1)
            }
            slowDone.store(true, ordering: .relaxed)
        }
        slow.start()

        // The bad requests, from two threads at once (the generator must leave the daemon a core
        // of this 2-core machine: saturating both measures the machine, not batchd). Half of those that get an answer wait
        // for it; the rest hang up at once.
        let answered = Atomic<Int>(0)
        let threads = 2
        let group = DispatchGroup()
        for worker in 0..<threads {
            group.enter()
            Thread {
                lowerPriority()
                var random = SystemRandomNumberGenerator()
                for number in stride(from: worker, to: badRequests, by: threads) {
                    guard let connection = try? RawConnection(port: port, timeout: 3) else { continue }
                    let kind = kinds[number % kinds.count]
                    connection.send(kind.make(&random))
                    if waitsForAnswer(number) {
                        if connection.receiveResponse() != nil { answered.add(1, ordering: .relaxed) }
                    }
                }
                group.leave()
            }.start()
        }
        group.wait()
        // The attack goes on until every slow client has been dropped at least once.
        let deadline = Date().addingTimeInterval(30)
        while dropped.load(ordering: .relaxed) < slowConnections, Date() < deadline { usleep(50_000) }
        stop.store(true, ordering: .relaxed)
        while !slowDone.load(ordering: .relaxed) || !proberDone.load(ordering: .relaxed) { usleep(10_000) }
        return Attack(probes: probes.withLock { $0 }, answered: answered.load(ordering: .relaxed),
                      waitedFor: (0..<badRequests).filter(waitsForAnswer).count, dropped: dropped.load(ordering: .relaxed))
    }

    /// The attacking threads run at nice 10: on this 2-core machine the attack shares the cores
    /// with the daemon and the prober, and the prober's own wait for a core would otherwise be
    /// measured as the daemon's latency.
    static func lowerPriority() {
        // On Linux, who = 0 with PRIO_PROCESS means the calling thread only.
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
    }

    /// Random bytes and truncated requests may be the start of a valid request (the daemon then
    /// waits for the rest); every other kind is answered at once.
    static func waitsForAnswer(_ number: Int) -> Bool {
        number % 2 == 0 && !["random bytes", "truncated"].contains(kinds[number % kinds.count].name)
    }

    /// The daemon's open descriptors once they stop falling (or reach `atMost`), after the
    /// attack's connections have been closed on both sides.
    static func settledFiles(_ pid: Int32, atMost target: Int?) throws -> Int {
        var files = openFiles(pid)
        for _ in 0..<100 {
            usleep(100_000)
            let now = openFiles(pid)
            if let target, now <= target { return now }
            if target == nil, now >= files { return now }
            files = now
        }
        return files
    }

    static func openFiles(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }
}
