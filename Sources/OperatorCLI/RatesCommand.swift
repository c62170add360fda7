import ArgumentParser
import Collection
import Domain
import Foundation
import Postgres
import Settings

/// `analytics rates load FILE`: loads dated exchange rates into `core.exchange_rates`.
public struct RatesCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rates",
        abstract: "Manage the dated exchange rates spend is converted with.",
        subcommands: [Load.self])

    public init() {}

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a CSV of rates (columns date, currency, rate; ',' or ';'; decimal point or comma). All or nothing.")

        @Argument(help: "The CSV file.") var file: String
        @Option(help: "The currency the rates convert into.") var target = "RUB"
        @Option(help: "Where the rates come from (recorded with each rate).") var origin = "manual"
        @Option(help: "YAML configuration file (default: $ANALYTICS_CONFIG).") var config: String?

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            let rates: [ExchangeRateStore.Rate]
            do {
                rates = try ExchangeRateStore.parse(String(decoding: data, as: UTF8.self), target: target)
            } catch let error as CSVError {
                throw ValidationError("\(file): \(error)")
            }
            let settings = try Settings.load(path: config)
            let stored = try await CLI.withPool(settings, "rates") {
                try await ExchangeRateStore.store(rates, target: target, origin: origin, pool: $0)
            }
            print("loaded \(stored) rates into \(target) from \(file)")
        }
    }
}
