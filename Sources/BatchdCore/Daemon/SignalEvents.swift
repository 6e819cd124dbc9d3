import Foundation

/// Unix signals as an async stream. The signals are ignored first, so that their default action
/// (ending the process) never happens; dispatch sources still see them.
public enum SignalEvents {
    public static func stream(_ signals: [Int32]) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        let queue = DispatchQueue(label: "batchd.signals")
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        let keep = SourcesBox(sources)
        continuation.onTermination = { _ in keep.cancel() }
        return stream
    }
}

private final class SourcesBox: @unchecked Sendable {  // kept alive by the stream; cancelled once
    let sources: [any DispatchSourceSignal]

    init(_ sources: [any DispatchSourceSignal]) {
        self.sources = sources
    }

    func cancel() {
        sources.forEach { $0.cancel() }
    }
}
