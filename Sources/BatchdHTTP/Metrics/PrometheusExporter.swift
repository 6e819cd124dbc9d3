import BatchdCore
import CoreMetrics
import NIOCore
import Prometheus

/// The swift-metrics factory behind `RunMetrics`, over a swift-prometheus registry, and the
/// `/metrics` answer rendered from that registry in the Prometheus text format.
///
/// It makes each batchd metric through the registry's named API so that every family carries
/// its `# HELP` line (the plain `PrometheusMetricsFactory` leaves help empty, which
/// `promtool check metrics` reports), and the job-duration histogram gets buckets that span an
/// HTTP ping to a backup. Anything else goes to a `PrometheusMetricsFactory` over the same
/// registry.
final class PrometheusExporter: MetricsFactory, Sendable {
    let registry: PrometheusCollectorRegistry
    private let fallback: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        fallback = PrometheusMetricsFactory(registry: registry)
    }

    /// `GET /metrics`: the text exposition format, version 0.0.4.
    func response() -> APIResponse {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8_192)
        registry.emit(into: &bytes)
        return APIResponse(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: ByteBuffer(bytes: bytes))
    }

    /// The descriptor (name and help) of one of batchd's metrics; nil for any other label.
    private func descriptor(_ label: String) -> MetricNameDescriptor? {
        RunMetrics.Name.help[label].map { MetricNameDescriptor(metricName: label, unitName: "", helpText: $0) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let descriptor = descriptor(label) else { return fallback.makeCounter(label: label, dimensions: dimensions) }
        return registry.makeCounter(descriptor: descriptor, labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        fallback.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let descriptor = descriptor(label) else { return fallback.makeMeter(label: label, dimensions: dimensions) }
        return registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard let descriptor = descriptor(label), !aggregate else {
            return fallback.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        }
        return registry.makeGauge(descriptor: descriptor, labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let descriptor = descriptor(label) else { return fallback.makeTimer(label: label, dimensions: dimensions) }
        return registry.makeDurationHistogram(descriptor: descriptor, labels: dimensions, buckets: RunMetrics.Name.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        fallback.destroyCounter(handler)
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        fallback.destroyFloatingPointCounter(handler)
    }

    func destroyMeter(_ handler: any MeterHandler) {
        fallback.destroyMeter(handler)
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        fallback.destroyRecorder(handler)
    }

    func destroyTimer(_ handler: any TimerHandler) {
        fallback.destroyTimer(handler)
    }
}
