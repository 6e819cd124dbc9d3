import BatchdCore
import BatchdTestKit
import Foundation
import Testing

/// docker-hub-pull against Debian's docker-registry on 127.0.0.1 (a real OCI registry), with
/// images pushed by the test through the registry API.
@Suite("docker-hub-pull against a real registry")
struct RegistryCheckTests {
    static func registry() async throws -> LocalRegistry {
        try #require(LocalRegistry.isInstalled, "docker-registry (Debian's package) is installed by scripts/install-deps --test")
        return try await OffPool.run { try LocalRegistry() }
    }

    func yaml(_ registry: LocalRegistry, images: [String], concurrency: Int = 4) -> String {
        """
        history: { fsync: false }
        jobs:
          docker-hub-pull:
            enabled: true
            registry: \(registry.baseURL)
            concurrency: \(concurrency)
            requestTimeout: 5s
            images: [\(images.map { "'\($0)'" }.joined(separator: ", "))]
        """
    }

    @Test func aTagMovedToANewManifestIsExactlyOneUpdate() async throws {
        let registry = try await Self.registry()
        let first = try await registry.pushed("team/app", tag: "1", content: "one")
        let other = try await registry.pushed("team/other", tag: "stable", content: "other")
        let harness = try CheckerHarness(yaml(registry, images: ["team/app:1", "team/other:stable"]))

        let initial = try await harness.run("docker-hub-pull")
        #expect(initial.record.status == .completed)
        #expect(initial.record.itemsChecked == 2 && initial.record.itemsUpdated == 0, "a first sighting is not an update")
        #expect(initial.state == ["digests": ["team/app:1": .string(first), "team/other:stable": .string(other)]])
        #expect(initial.record.result["images"]?.list.map { $0["status"] } == ["new", "new"])

        let moved = try await registry.pushed("team/app", tag: "1", content: "one, rebuilt")
        #expect(moved != first)
        let second = try await harness.run("docker-hub-pull")
        #expect(second.record.status == .completed && second.record.itemsChecked == 2 && second.record.itemsUpdated == 1)
        #expect(second.record.result["updates"] == [["image": "team/app:1", "old": .string(first), "new": .string(moved)]])
        #expect(second.record.result["images"]?.list.map { $0["status"] } == ["updated", "unchanged"])
        #expect(second.log.contains { $0.contains("team/app:1: new image behind the tag (\(first) -> \(moved))") })

        let third = try await harness.run("docker-hub-pull")
        #expect(third.record.itemsUpdated == 0 && third.record.result["updates"] == [])
    }

    @Test func aPinnedDigestIsComparedInsteadOfTheLastOneSeen() async throws {
        let registry = try await Self.registry()
        let pinned = try await registry.pushed("team/app", tag: "2", content: "pinned")
        let harness = try CheckerHarness(yaml(registry, images: ["team/app:2@\(pinned)"]))
        let same = try await harness.run("docker-hub-pull")
        #expect(same.record.itemsUpdated == 0 && same.record.result["images"]?.list.first?["status"] == "unchanged")
        let newer = try await registry.pushed("team/app", tag: "2", content: "newer")
        let changed = try await harness.run("docker-hub-pull")
        #expect(changed.record.result["updates"] == [["image": .string("team/app:2@\(pinned)"), "old": .string(pinned), "new": .string(newer)]])
        // Still compared with the pin, not with what was seen last time.
        #expect(try await harness.run("docker-hub-pull").record.itemsUpdated == 1)
    }

    @Test func oneMissingImageIsAnErrorTheOthersAreStillChecked() async throws {
        let registry = try await Self.registry()
        try await registry.pushed("team/app", tag: "1", content: "one")
        let harness = try CheckerHarness(yaml(registry, images: ["team/app:1", "team/missing:1", "team/app:nope"]))
        let run = try await harness.run("docker-hub-pull")
        #expect(run.record.status == .completed)
        #expect(run.record.itemsChecked == 1 && run.record.result["errorCount"] == 2)
        #expect(run.record.result["errors"]?.list.map { $0["image"] } == ["team/missing:1", "team/app:nope"])
        #expect(run.record.result["errors"]?.list.first?["error"]?.stringValue?.contains("not found on the registry (404)") == true)
        #expect(run.log.contains { $0.hasPrefix("error team/missing:1: team/missing:1: not found on the registry (404)") })
    }

    @Test func whenEveryImageFailsTheRunFails() async throws {
        let registry = try await Self.registry()
        let harness = try CheckerHarness(yaml(registry, images: ["team/gone:1", "team/gone:2"]))
        let run = try await harness.run("docker-hub-pull")
        #expect(run.record.status == .failed)
        #expect(run.record.error == "every image failed (2); the first: team/gone:1: not found on the registry (404)")
        #expect(run.record.result["errorCount"] == 2, "the errors are in the record")
        // A registry that is not there at all: the connection is refused, each image says so.
        registry.stop()
        let refused = try await harness.run("docker-hub-pull")
        #expect(refused.record.status == .failed)
        #expect(refused.record.error?.contains("Couldn't connect to server") == true || refused.record.error?.contains("connect") == true)
    }

    @Test func connectionsAreReusedAcrossImages() async throws {
        let registry = try await Self.registry()
        for tag in 0..<20 { try await registry.pushed("team/many", tag: "t\(tag)", content: "\(tag)") }
        let harness = try CheckerHarness(yaml(registry, images: (0..<20).map { "team/many:t\($0)" }, concurrency: 2))
        let host = "127.0.0.1:\(registry.port)"
        let before = HTTPClient.statistics(host: host)
        let run = try await harness.run("docker-hub-pull")
        let after = HTTPClient.statistics(host: host)
        #expect(run.record.itemsChecked == 20)
        let transfers = after.transfers - before.transfers, connections = after.connections - before.connections
        #expect(transfers >= 20)
        #expect(connections <= 4, "20 requests over \(connections) connections: connections are kept and reused")
    }
}
