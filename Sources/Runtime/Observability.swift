import Logging
import Metrics
import Prometheus
import Settings
import Synchronization

/// Process-wide logging and metrics set-up, done once by each executable's `@main`.
public enum Observability {
    private static let registryBox = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-log (JSON lines or text on stderr, at `settings.logLevel`) and
    /// swift-metrics backed by a Prometheus registry. Safe to call more than once (the first
    /// call wins; swift-log and swift-metrics allow only one bootstrap per process).
    @discardableResult
    public static func bootstrap(_ settings: Settings) -> PrometheusCollectorRegistry {
        registryBox.withLock { box in
            if let registry = box { return registry }
            let level = Logger.Level(rawValue: settings.logLevel) ?? .info
            let json = settings.logFormat == "json"
            LoggingSystem.bootstrap { label in
                if json { return JSONLogHandler(label: label, level: level) }
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            box = registry
            return registry
        }
    }

    /// The registry `/metrics` exports (a private one when `bootstrap` was never called, as in
    /// tests that run services in-process).
    public static var registry: PrometheusCollectorRegistry {
        registryBox.withLock { box in
            if let registry = box { return registry }
            let registry = PrometheusCollectorRegistry()
            box = registry
            return registry
        }
    }
}
