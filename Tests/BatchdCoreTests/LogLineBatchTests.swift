@testable import BatchdCore
import Glibc
import Logging
import Testing

/// `LogLineBatch` holds the lines of a batch of runs for one `write`: none may be lost, reordered
/// or held back past the batch, whatever logs inside it.
@Suite("Log lines written as one batch")
struct LogLineBatchTests {
    /// A pipe whose read end does not block, and a JSON logger writing to its other end.
    final class LogPipe: Sendable {
        let readEnd: Int32
        let writeEnd: Int32
        let logger: Logger

        init() throws {
            var fds: [Int32] = [0, 0]
            try #require(pipe(&fds) == 0)
            _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
            readEnd = fds[0]
            writeEnd = fds[1]
            let handler = ConsoleLogHandler(label: "test", format: .json, level: .debug, fileDescriptor: fds[1])
            logger = Logger(label: "test") { _ in handler }
        }

        deinit {
            close(readEnd)
            close(writeEnd)
        }

        /// The messages written so far, in order.
        func messages() throws -> [String] {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(readEnd, &buffer, buffer.count)
                if count <= 0 { break }
                bytes += buffer[0..<count]
            }
            return try bytes.split(separator: 0x0A).map { line in
                guard case .object(let fields) = try JSONParser.parse(Array(line)),
                      case .string(let message)? = fields.first(where: { $0.0 == "message" })?.1 else { return "?" }
                return message
            }
        }
    }

    @Test func linesInsideABatchAreWrittenTogetherInOrderWhenItEnds() throws {
        let log = try LogPipe()
        let other = try LogPipe()
        var seenInside: [String] = []
        var otherInside: [String] = []
        LogLineBatch.collect {
            for n in 0..<50 { log.logger.info("run \(n)") }
            other.logger.warning("elsewhere")  // another descriptor: written at once
            seenInside = (try? log.messages()) ?? ["unreadable"]
            otherInside = (try? other.messages()) ?? ["unreadable"]
        }
        #expect(seenInside.isEmpty, "held until the batch ends")
        #expect(otherInside == ["elsewhere"])
        #expect(try log.messages() == (0..<50).map { "run \($0)" })
        log.logger.info("after")
        #expect(try log.messages() == ["after"], "outside a batch a line is written at once")
    }

    @Test func aTaskStartedInsideABatchThatLogsAfterItEndsIsNotLost() async throws {
        let log = try LogPipe()
        let (release, released) = AsyncStream.makeStream(of: Void.self)
        let task = LogLineBatch.collect {
            log.logger.info("inside")
            return Task {  // inherits the batch, logs once it has closed
                for await _ in release { break }
                log.logger.info("late")
            }
        }
        #expect(try log.messages() == ["inside"])
        released.yield()
        await task.value
        #expect(try log.messages() == ["late"])
    }
}
