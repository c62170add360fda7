import ArgumentParser
import Foundation
import Postgres
import Settings

/// Read-only BI logins, each reading the mart of one project (row-level security).
public enum BILogins {
    /// Creates `login` for `project` with `password` (a bind parameter all the way to the server).
    public static func create(login: String, project: String, password: String, on connection: PGConnection) async throws {
        try await connection.query("SELECT core.create_bi_login($1, $2, $3)", [login, project, password])
    }

    /// Drops a login `create` made; false when there is none of that name.
    public static func drop(login: String, on connection: PGConnection) async throws -> Bool {
        try await connection.query("SELECT core.drop_bi_login($1)", [login])[0].decode(Bool.self, 0)
    }

    /// Every BI login and its project.
    public static func list(on connection: PGConnection) async throws -> [(login: String, project: String)] {
        try await connection.query("SELECT role_name, project_id FROM core.bi_logins ORDER BY 1").map {
            (try $0.decode(String.self, 0), try $0.decode(String.self, 1))
        }
    }

    /// 24 random characters from [A-Za-z0-9] (about 143 bits).
    public static func generatedPassword() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<24).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}

/// `analytics bi-login create|drop|list`.
public struct BILoginCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bi-login",
        abstract: "Manage read-only logins for BI tools (Power BI, Metabase, DataLens): each reads the mart of one project.",
        subcommands: [Create.self, Drop.self, List.self])

    public init() {}

    /// Runs `body` on one connection of a pool that is closed afterwards.
    static func withConnection<T>(_ config: String?, _ body: (PGConnection) async throws -> T) async throws -> T {
        try await CLI.withPool(try Settings.load(path: config), "bi-login") { try await $0.withConnection(body) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a login reading only this project's mart; prints the password once when it is generated.")
        @Option(help: "The project it may read.") var project: String
        @Option(help: "Login name (lower-case letters, digits, _).") var login: String
        @Option(help: "Name of an environment variable holding the password (default: a generated one, printed once).")
        var passwordEnv: String?
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

        func run() async throws {
            var password = BILogins.generatedPassword()
            if let passwordEnv {
                guard let value = ProcessInfo.processInfo.environment[passwordEnv], !value.isEmpty else {
                    throw ValidationError("environment variable \(passwordEnv) is not set")
                }
                password = value
            }
            try await BILoginCommand.withConnection(config) { connection in
                try await BILogins.create(login: login, project: project, password: password, on: connection)
            }
            print("created login \(login) reading project \(project): connect to the database with it and read the mart views")
            if passwordEnv == nil { print("password (shown once): \(password)") }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a BI login.")
        @Argument(help: "The login name.") var login: String
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

        func run() async throws {
            let dropped = try await BILoginCommand.withConnection(config) { try await BILogins.drop(login: login, on: $0) }
            guard dropped else { throw ValidationError("no BI login named \(login)") }
            print("dropped login \(login)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the BI logins and their projects.")
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

        func run() async throws {
            for (login, project) in try await BILoginCommand.withConnection(config, { try await BILogins.list(on: $0) }) {
                print("\(login)\t\(project)")
            }
        }
    }
}
