/// The ad networks a collector exists for: the source `kind` in the configuration, the name
/// reports show, and the `utm_source` its spend rows carry unless the source's options say
/// otherwise (domain.md definition 2). One table for the collectors and the reports.
public enum AdNetworks {
    public struct Network: Sendable, Equatable {
        public let kind: String
        public let name: String
        public let defaultUTMSource: String
    }

    public static let all: [Network] = [
        Network(kind: "yandex_direct", name: "Yandex Direct", defaultUTMSource: "yandex"),
        Network(kind: "vk_ads", name: "VK Ads", defaultUTMSource: "vk"),
        Network(kind: "mytarget", name: "myTarget", defaultUTMSource: "mytarget"),
        Network(kind: "google_ads", name: "Google Ads", defaultUTMSource: "google"),
        Network(kind: "meta", name: "Meta", defaultUTMSource: "facebook"),
    ]

    /// The network of a source kind.
    public static func network(kind: String) -> Network? { all.first { $0.kind == kind } }

    /// The default `utm_source` of a source kind (a collector's own when it has no network).
    public static func defaultUTMSource(kind: String, otherwise fallback: String) -> String {
        network(kind: kind)?.defaultUTMSource ?? fallback
    }

    /// The report name of each `utm_source` (lower-cased) a project's spend can carry: its
    /// configured ad sources' (option `utm_source`, else the network's default), then every
    /// network's default source.
    public static func sourceNames(of project: Project) -> [String: String] {
        var names: [String: String] = [:]
        for network in all { names[network.defaultUTMSource] = network.name }
        for source in project.sources {
            guard let network = network(kind: source.kind) else { continue }
            names[(source.options["utm_source"] ?? network.defaultUTMSource).lowercased()] = network.name
        }
        return names
    }
}
