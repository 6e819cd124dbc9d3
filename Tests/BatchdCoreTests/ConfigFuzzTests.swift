import BatchdCore
import BatchdHandlers
import Foundation
import Testing

/// Mutated variants of the shipped batch.yaml: none may crash or hang the loader, and every
/// rejection must say where (a line and column inside the file). `make test` runs a modest
/// count; `make stress` (BATCHD_STRESS=1) runs the full count.
@Suite("Fuzz: mutated batch.yaml files")
struct ConfigFuzzTests {
    static let iterations = ProcessInfo.processInfo.environment["BATCHD_STRESS"] == nil ? 3_000 : 100_000

    /// Async and yielding: thousands of parses on one of the two pool threads must not keep the
    /// other suites' async work (real processes with timeouts) from running meanwhile.
    @Test func mutatedFilesNeverCrashAndAlwaysSayWhere() async throws {
        let original = try Array(Data(contentsOf: packageRoot.appendingPathComponent("batch.yaml")))
        let loader = ConfigLoader(registry: BuiltInJobTypes.registry)
        var random = SplitMix64(seed: 0x6261_7463_6864)
        var rejected = 0, accepted = 0
        var slowest: Duration = .zero
        let clock = ContinuousClock()
        for iteration in 0..<Self.iterations {
            if iteration % 20 == 0 { await Task.yield() }
            var bytes = original
            for _ in 0..<(1 + random.next(below: 3)) {
                Mutation.apply(Mutation.allCases[random.next(below: Mutation.allCases.count)], to: &bytes, random: &random)
            }
            let started = clock.now
            let result = loader.load(bytes: bytes, path: "fuzz.yaml")
            slowest = max(slowest, clock.now - started)
            switch result {
            case .success:
                accepted += 1
            case .failure(let invalid):
                rejected += 1
                let lines = Self.yamlLineCount(bytes)
                #expect(!invalid.diagnostics.isEmpty)
                for diagnostic in invalid.diagnostics {
                    let inside = diagnostic.mark.line >= 1 && diagnostic.mark.line <= lines + 1 && diagnostic.mark.column >= 1
                    #expect(inside, "iteration \(iteration): \(diagnostic) is outside the file (\(lines) lines)")
                    #expect(diagnostic.description.hasPrefix("fuzz.yaml:\(diagnostic.mark.line):\(diagnostic.mark.column): error: "))
                }
            }
        }
        // Both outcomes must occur, or the mutations are not exercising the loader.
        #expect(rejected > Self.iterations / 4)
        #expect(accepted > 0)
        #expect(slowest < .seconds(2), "one variant took \(slowest): a hang in the making")
    }
}

extension ConfigFuzzTests {
    /// Lines as YAML counts them (and libyaml reports them): a line break is LF, CR not followed
    /// by LF, NEL (U+0085), or the Unicode line and paragraph separators.
    static func yamlLineCount(_ bytes: [UInt8]) -> Int {
        var lines = 1, index = 0
        while index < bytes.count {
            switch bytes[index] {
            case 0x0A: lines += 1
            case 0x0D where index + 1 >= bytes.count || bytes[index + 1] != 0x0A: lines += 1
            case 0xC2 where index + 1 < bytes.count && bytes[index + 1] == 0x85: lines += 1
            case 0xE2 where index + 2 < bytes.count && bytes[index + 1] == 0x80 && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9): lines += 1
            default: break
            }
            index += 1
        }
        return lines
    }
}

/// The ways a file gets broken: by editors, by truncated writes, by hostile or confused authors.
enum Mutation: CaseIterable {
    case flipBit, insertByte, deleteRange, truncate, duplicateLine, swapLines
    case deepNesting, hugeScalar, aliasBomb, tabIndent, invalidUTF8, controlCharacters

    static func apply(_ mutation: Mutation, to bytes: inout [UInt8], random: inout SplitMix64) {
        let position = bytes.isEmpty ? 0 : random.next(below: bytes.count)
        switch mutation {
        case .flipBit:
            guard !bytes.isEmpty else { return }
            bytes[position] ^= UInt8(1 << random.next(below: 8))
        case .insertByte:
            bytes.insert(UInt8(truncatingIfNeeded: random.next(below: 256)), at: position)
        case .deleteRange:
            let end = min(bytes.count, position + 1 + random.next(below: 40))
            bytes.removeSubrange(position..<end)
        case .truncate:
            bytes.removeSubrange(position...)
        case .duplicateLine, .swapLines:
            var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            guard lines.count > 1 else { return }
            let a = random.next(below: lines.count), b = random.next(below: lines.count)
            if mutation == .duplicateLine { lines.insert(lines[a], at: b) } else { lines.swapAt(a, b) }
            bytes = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        case .deepNesting:
            let depth = 10 + random.next(below: 2_000)
            let open = random.next(below: 2) == 0 ? "[" : "{a: "
            let close = open == "[" ? "]" : "}"
            let nested = String(repeating: open, count: depth) + "x" + String(repeating: close, count: random.next(below: depth + 1))
            bytes.insert(contentsOf: Array(nested.utf8), at: position)
        case .hugeScalar:
            bytes.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "a"), count: 1_000 + random.next(below: 200_000)), at: position)
        case .aliasBomb:
            var bomb = "\nb0: &b0 [x, x, x, x, x, x, x, x, x, x]\n"
            for level in 1...(2 + random.next(below: 8)) {
                bomb += "b\(level): &b\(level) [" + Array(repeating: "*b\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
            }
            bomb += "ref: *b\(random.next(below: 3))\n"
            bytes.insert(contentsOf: Array(bomb.utf8), at: random.next(below: 2) == 0 ? 0 : bytes.count)
        case .tabIndent:
            guard let space = bytes[position...].firstIndex(of: UInt8(ascii: " ")) else { return }
            bytes[space] = UInt8(ascii: "\t")
        case .invalidUTF8:
            let sequences: [[UInt8]] = [[0xC3, 0x28], [0xFF], [0xED, 0xA0, 0x80], [0xF0, 0x28, 0x8C, 0x28], [0xE2, 0x82]]
            bytes.insert(contentsOf: sequences[random.next(below: sequences.count)], at: position)
        case .controlCharacters:
            bytes.insert(contentsOf: [0x00, 0x1B, 0x07, 0x7F].shuffled(using: &random), at: position)
        }
    }
}

/// A small, seedable generator so that a failing iteration can be replayed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(below bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }
}
