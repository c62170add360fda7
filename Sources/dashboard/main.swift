import ArgumentParser
import Dashboard
import Foundation
import Logging
import Runtime
import Settings

/// dashboard: the marketer's page — daily spend and revenue, the channel table, a model switch
/// and a period picker — rendered on the server from the `mart` views.
@main
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Serve the dashboard page (server-rendered HTML and SVG) from the mart.")

    @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?
    @Option(help: "Listening address.") var host = "0.0.0.0"
    @Option(help: "Page port (default: $DASHBOARD_PORT or 8081).") var port: Int?
    @Option(help: "User name of HTTP Basic sign-in (default: $DASHBOARD_USER or analytics).") var user: String?
    @Option(name: .customLong("password-file"),
            help: "A file holding the sign-in password (default: $DASHBOARD_PASSWORD_FILE, else $DASHBOARD_PASSWORD; none: no sign-in).")
    var passwordFile: String?

    func run() async throws {
        let settings = try Settings.load(path: config)
        Observability.bootstrap(settings)
        let environment = ProcessInfo.processInfo.environment
        let logger = Logger(label: "dashboard")
        let port = try port ?? environment["DASHBOARD_PORT"].map { text in
            guard let port = Int(text), (0...65535).contains(port) else { throw ValidationError("DASHBOARD_PORT: '\(text)' is not a port number") }
            return port
        } ?? 8081
        var password: String?
        if let file = passwordFile ?? environment["DASHBOARD_PASSWORD_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("the password file \(file) cannot be read") }
            password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        } else if let value = environment["DASHBOARD_PASSWORD"], !value.isEmpty {
            password = value
        }
        if password == nil {
            logger.warning("no DASHBOARD_PASSWORD: the page is open to whoever reaches the port")
        }
        let access = DashboardApp.Access(user: user ?? environment["DASHBOARD_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "analytics",
                                         password: password)
        try await DashboardApp.build(settings: settings, host: host, port: port, access: access, logger: logger) { bound in
            logger.info("dashboard listening", metadata: ["port": "\(bound)", "projects": "\(settings.projects.count)"])
        }.run()
    }
}
