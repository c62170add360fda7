import Foundation

/// The seven attribution models of domain.md ("Attribution" and definition 5), as the `model`
/// column of the mart names them.
public enum AttributionModel: String, CaseIterable, Sendable, Codable, Hashable {
    case firstClick = "first_click"
    case lastClick = "last_click"
    case lastNonDirect = "last_non_direct"
    case lastPaid = "last_paid"
    case linear
    case positionBased = "position_based"
    case timeDecay = "time_decay"
}

/// One touch of a lead as the models see it (domain.md definitions 3–5). Touches are given in
/// the lead's touch order: by start time, then visit id.
public struct Touch: Sendable, Equatable {
    /// Start of the visit, microseconds since 1970-01-01 UTC.
    public var start: Int64
    /// No UTM tags, no ad click id, no external referrer (definition 4).
    public var isDirect: Bool
    /// A paid medium or an ad click id (definition 4).
    public var isPaid: Bool

    public init(start: Int64, isDirect: Bool, isPaid: Bool) {
        self.start = start
        self.isDirect = isDirect
        self.isPaid = isPaid
    }
}

/// Credit weights as exact integers: a weight is `units / Credit.unit`, and the weights of one
/// lead under one model sum to exactly `Credit.unit` — so every model's totals of leads, sales
/// and revenue are the unattributed totals, in `numeric` arithmetic, to the last digit. A weight
/// has 15 decimals (definition 15 asks for at least 6); money credited with it is never rounded
/// per touch, only per report cell.
public enum Credit {
    public static let unit: Int64 = 1_000_000_000_000_000
    /// Decimal places of a weight: `units` is `weight × 10^scale`.
    public static let scale = 15

    /// The weights of `touches` (at least one; a lead without any has its one `(unknown)` touch)
    /// of a lead at `leadAt` under `model`. `halfLifeDays` is time decay's half-life.
    public static func weights(_ touches: [Touch], leadAt: Int64, model: AttributionModel, halfLifeDays: Double = 7) -> [Int64] {
        precondition(!touches.isEmpty, "a lead has at least its (unknown) touch")
        let count = touches.count
        func all(to index: Int) -> [Int64] {
            var weights = [Int64](repeating: 0, count: count)
            weights[index] = unit
            return weights
        }
        switch model {
        case .firstClick:
            return all(to: 0)
        case .lastClick:
            return all(to: count - 1)
        case .lastNonDirect:
            return all(to: lastNonDirect(touches))
        case .lastPaid:
            // The last paid touch, else whatever last non-direct picks (definition 5).
            return all(to: touches.lastIndex(where: \.isPaid) ?? lastNonDirect(touches))
        case .linear:
            return split(unit, over: count)
        case .positionBased:
            // 40 % first, 40 % last, 20 % shared by the middle; one touch 100 %, two 50/50.
            switch count {
            case 1: return [unit]
            case 2: return split(unit, over: 2)
            default:
                let end = unit / 5 * 2
                return [end] + split(unit - 2 * end, over: count - 2) + [end]
            }
        case .timeDecay:
            return timeDecay(touches, leadAt: leadAt, halfLifeDays: halfLifeDays)
        }
    }

    /// The last touch that is not direct; with only direct touches, the last touch.
    static func lastNonDirect(_ touches: [Touch]) -> Int {
        touches.lastIndex { !$0.isDirect } ?? touches.count - 1
    }

    /// `total` in `count` equal integer parts; the units that do not divide go one each to the
    /// latest parts (a deterministic choice: ties of an exact split favour the later touch).
    static func split(_ total: Int64, over count: Int) -> [Int64] {
        let base = total / Int64(count)
        let rest = Int(total - base * Int64(count))
        return (0..<count).map { $0 >= count - rest ? base + 1 : base }
    }

    /// Weights 2^(−Δ/half-life), Δ = (lead − start) / 86,400 s in fractional days (a visit that
    /// started after the lead, possible for the lead's own visit with skewed clocks, counts as
    /// Δ = 0), normalised to `unit` by largest remainders (ties to the later touch).
    static func timeDecay(_ touches: [Touch], leadAt: Int64, halfLifeDays: Double) -> [Int64] {
        precondition(halfLifeDays > 0 && halfLifeDays.isFinite, "time decay needs a positive half-life (settings validate it)")
        let ages = touches.map { Double(max(0, leadAt - $0.start)) / 86_400_000_000 }
        // Relative to the most recent touch, so the largest weight is 1 and nothing underflows.
        let youngest = ages.min()!
        let raw = ages.map { Foundation.pow(2.0, -($0 - youngest) / halfLifeDays) }
        return apportion(raw, total: unit)
    }

    /// Integer parts of `total` proportional to `shares` (non-negative, not all zero), summing
    /// to exactly `total`: floors, then the missing units to the largest fractional parts.
    static func apportion(_ shares: [Double], total: Int64) -> [Int64] {
        let sum = shares.reduce(0, +)
        let exact = shares.map { $0 / sum * Double(total) }
        var parts = exact.map { Int64($0.rounded(.down)) }
        var missing = total - parts.reduce(0, +)
        // Largest fraction first; ties to the later touch.
        let order = exact.indices.sorted { a, b in
            let (fa, fb) = (exact[a] - exact[a].rounded(.down), exact[b] - exact[b].rounded(.down))
            return fa != fb ? fa > fb : a > b
        }
        var index = 0
        while missing > 0 {
            parts[order[index % order.count]] += 1
            missing -= 1
            index += 1
        }
        // Floating error can only leave a unit too many where shares are huge; take it from the
        // largest part.
        while missing < 0 {
            let largest = parts.indices.max { parts[$0] < parts[$1] }!
            parts[largest] -= 1
            missing += 1
        }
        return parts
    }
}

extension AttributionModel {
    /// The model's name as a marketer reads it (the dashboard's model switch).
    public var title: String {
        switch self {
        case .firstClick: "First click"
        case .lastClick: "Last click"
        case .lastNonDirect: "Last non-direct"
        case .lastPaid: "Last paid"
        case .linear: "Linear"
        case .positionBased: "Position-based 40-20-40"
        case .timeDecay: "Time decay"
        }
    }
}
