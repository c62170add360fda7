import Foundation

/// Turns a deal's stage into its analytics status (domain.md definition 9), and its amount into
/// cost of goods — from the connection's options, so a remap needs no CRM call.
///
/// Options:
/// - `status.<stage>` or `status.<pipeline>.<stage>` = `open` | `won` | `lost` | `excluded`
///   (the pipeline form wins). Defaults: the CRM's won stages (amoCRM 142, Bitrix24 semantic S)
///   → won, lost (143, F) → lost, unsorted (amoCRM type 1) → excluded, others open; a stage the
///   CRM does not list → `unknown`.
/// - `margin.<product>` / `margin_pipeline.<pipeline>` = percent: cost of goods = amount ×
///   (100 − margin) / 100 when the deal has no cost-of-goods field value (product first).
public struct StageMapping: Sendable, Equatable {
    public var overrides: [String: DealStatus]
    public var productMargins: [String: Decimal]
    public var pipelineMargins: [String: Decimal]

    public init(overrides: [String: DealStatus] = [:], productMargins: [String: Decimal] = [:], pipelineMargins: [String: Decimal] = [:]) {
        self.overrides = overrides
        self.productMargins = productMargins
        self.pipelineMargins = pipelineMargins
    }

    /// Reads the mapping from a connection's options; a bad value is an error naming the option.
    public init(options: [String: String]) throws {
        self.init()
        for (key, value) in options {
            if key.hasPrefix("status.") {
                guard let status = DealStatus(rawValue: value), status != .unknown else {
                    throw MappingError("option \(key): '\(value)' is not open, won, lost or excluded")
                }
                overrides[String(key.dropFirst("status.".count))] = status
            } else if key.hasPrefix("margin.") || key.hasPrefix("margin_pipeline.") {
                guard let percent = Decimal(string: value.replacingOccurrences(of: ",", with: "."), locale: Locale(identifier: "en_US_POSIX")),
                      percent >= 0, percent <= 100 else {
                    throw MappingError("option \(key): '\(value)' is not a percent between 0 and 100")
                }
                if key.hasPrefix("margin.") { productMargins[String(key.dropFirst("margin.".count))] = percent }
                else { pipelineMargins[String(key.dropFirst("margin_pipeline.".count))] = percent }
            }
        }
    }

    /// The status of a deal in `stage` of `pipeline`, whose CRM kind is `kind` (nil: the CRM does
    /// not list the stage).
    public func status(pipeline: String, stage: String, kind: CRMStageKind?) -> DealStatus {
        if let status = overrides["\(pipeline).\(stage)"] ?? overrides[stage] { return status }
        switch kind {
        case .won: return .won
        case .lost: return .lost
        case .unsorted: return .excluded
        case .regular: return .open
        case nil: return .unknown
        }
    }

    /// Cost of goods: the field's value when the deal has one, else the amount less the margin
    /// of its first product that has one, else of its pipeline; nil when nothing says.
    public func costOfGoods(amount: Decimal, costField: Decimal?, products: [String], pipeline: String) -> Decimal? {
        if let costField { return costField }
        guard let margin = products.lazy.compactMap({ self.productMargins[$0] }).first ?? pipelineMargins[pipeline] else { return nil }
        return amount * (100 - margin) / 100
    }
}

public struct MappingError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
