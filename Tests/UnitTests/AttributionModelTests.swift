import Attribution
import Identity
import Settings
import Testing

/// Golden cases of domain.md's seven models (and definition 5's fallbacks), in exact weight
/// units: `Credit.unit` is a weight of 1.
@Suite struct AttributionModelTests {
    static let u = Credit.unit
    static let day: Int64 = 86_400_000_000
    static let lead: Int64 = 1_790_000_000_000_000

    static func touch(_ daysBefore: Int64, _ kind: Kind) -> Touch {
        Touch(start: lead - daysBefore * day, isDirect: kind == .direct, isPaid: kind == .paid)
    }
    enum Kind { case paid, organic, referral, direct }

    static func weights(_ touches: [Touch], halfLife: Double = 7) -> [AttributionModel: [Int64]] {
        Dictionary(uniqueKeysWithValues: AttributionModel.allCases.map {
            ($0, Credit.weights(touches, leadAt: lead, model: $0, halfLifeDays: halfLife))
        })
    }

    /// The configuration validates `attribution.default_model` (and `analytics report --model`)
    /// against its own list of the models' names: it must be the models', in the mart's order.
    @Test func theConfigurationKnowsExactlyTheModelsNames() {
        #expect(AttributionSettings.models == AttributionModel.allCases.map(\.rawValue))
    }

    @Test func oneTouchTakesEverythingInEveryModel() {
        for (model, w) in Self.weights([Self.touch(3, .organic)]) { #expect(w == [Self.u], "\(model)") }
        // A lead without visits has its one (unknown) touch: all of it, in every model.
        let unknown = Touch(start: Self.lead, isDirect: false, isPaid: false)
        for (model, w) in Self.weights([unknown]) { #expect(w == [Self.u], "\(model)") }
    }

    @Test func twoTouches() {
        let w = Self.weights([Self.touch(14, .paid), Self.touch(0, .direct)])
        #expect(w[.firstClick] == [Self.u, 0])
        #expect(w[.lastClick] == [0, Self.u])
        #expect(w[.lastNonDirect] == [Self.u, 0])
        #expect(w[.lastPaid] == [Self.u, 0])
        #expect(w[.linear] == [Self.u / 2, Self.u / 2])
        #expect(w[.positionBased] == [Self.u / 2, Self.u / 2])
        // Two half-lives apart: 1/4 against 1, normalised to 0.2 / 0.8.
        #expect(w[.timeDecay] == [200_000_000_000_000, 800_000_000_000_000])
    }

    @Test func threeTouches() {
        let w = Self.weights([Self.touch(14, .organic), Self.touch(7, .paid), Self.touch(0, .referral)])
        #expect(w[.firstClick] == [Self.u, 0, 0])
        #expect(w[.lastClick] == [0, 0, Self.u])
        #expect(w[.lastNonDirect] == [0, 0, Self.u])
        #expect(w[.lastPaid] == [0, Self.u, 0])
        // 1/3 does not divide: the spare unit goes to the latest touch, never lost.
        #expect(w[.linear] == [333_333_333_333_333, 333_333_333_333_333, 333_333_333_333_334])
        #expect(w[.positionBased] == [400_000_000_000_000, 200_000_000_000_000, 400_000_000_000_000])
        // 1/4 : 1/2 : 1 over 7/4 = 4/7, 2/7, 1/7 reversed; the two missing units go to the
        // largest remainders (…142.857 and …285.714).
        #expect(w[.timeDecay] == [142_857_142_857_143, 285_714_285_714_286, 571_428_571_428_571])
    }

    @Test func fiveTouches() {
        let w = Self.weights([Self.touch(20, .paid), Self.touch(10, .organic), Self.touch(7, .paid), Self.touch(3, .referral),
                              Self.touch(0, .direct)])
        #expect(w[.firstClick] == [Self.u, 0, 0, 0, 0])
        #expect(w[.lastClick] == [0, 0, 0, 0, Self.u])
        #expect(w[.lastNonDirect] == [0, 0, 0, Self.u, 0])
        #expect(w[.lastPaid] == [0, 0, Self.u, 0, 0])
        #expect(w[.linear] == Array(repeating: Self.u / 5, count: 5))
        #expect(w[.positionBased] == [400_000_000_000_000, 66_666_666_666_666, 66_666_666_666_667, 66_666_666_666_667, 400_000_000_000_000])
        // 2^(−20/7), 2^(−10/7), 2^(−1), 2^(−3/7), 1, normalised.
        let raw = [20.0, 10, 7, 3, 0].map { Foundation.pow(2, -$0 / 7) }
        let sum = raw.reduce(0, +)
        let decay = w[.timeDecay]!
        for (index, share) in raw.enumerated() {
            #expect(abs(Double(decay[index]) - share / sum * Double(Self.u)) < 1, "touch \(index)")
        }
        #expect(decay.reduce(0, +) == Self.u)
        // A longer half-life flattens it.
        let flat = Self.weights([Self.touch(20, .paid), Self.touch(0, .direct)], halfLife: 20)[.timeDecay]!
        #expect(flat == [333_333_333_333_333, 666_666_666_666_667])
    }

    @Test func directOnlyPathsFallBackToTheLastTouchAndNoPaidTouchFallsBackToLastNonDirect() {
        let direct = Self.weights([Self.touch(9, .direct), Self.touch(4, .direct), Self.touch(1, .direct)])
        #expect(direct[.lastNonDirect] == [0, 0, Self.u])
        #expect(direct[.lastPaid] == [0, 0, Self.u])
        #expect(direct[.firstClick] == [Self.u, 0, 0])
        let unpaid = Self.weights([Self.touch(9, .organic), Self.touch(4, .referral), Self.touch(1, .direct)])
        #expect(unpaid[.lastNonDirect] == [0, Self.u, 0])
        #expect(unpaid[.lastPaid] == [0, Self.u, 0])
    }

    @Test func touchesOutsideTheWindowGetNothingBecauseTheyAreNoTouches() {
        // A 30-day lookback: a visit 1 µs too old is not a touch, one exactly 30 days old is;
        // the lead's own visit counts wherever it lies (definition 3).
        let minute: Int64 = 60_000_000
        let visits = [
            Linker.Visit(visitID: "v-old", clientID: "c", startedAt: Self.lead - 30 * Self.day - 1),
            Linker.Visit(visitID: "v-edge", clientID: "c", startedAt: Self.lead - 30 * Self.day),
            Linker.Visit(visitID: "v-last", clientID: "c", startedAt: Self.lead - minute),
        ]
        let lead = Linker.Lead(requestID: "r", occurredAt: Self.lead, visitID: nil, clientID: "c")
        let path = Linker.touches(of: lead, visits: Dictionary(uniqueKeysWithValues: visits.map { ($0.visitID, $0) }),
                                  visitsByClient: ["c": visits])
        #expect(path.map(\.visitID) == ["v-edge", "v-last"])
        let w = Self.weights(path.map { Touch(start: $0.startedAt, isDirect: false, isPaid: false) })
        #expect(w[.firstClick] == [Self.u, 0])
        #expect(w[.linear] == [Self.u / 2, Self.u / 2])
        // 30 days at a 7-day half-life: 2^(−30/7 + 1/10080) against 1.
        #expect(w[.timeDecay]![0] < 50_000_000_000_000)
        // A visit after the lead (skewed clocks on its own visit) counts as no time before it.
        let skewed = Self.weights([Self.touch(7, .paid), Touch(start: Self.lead + Self.day, isDirect: false, isPaid: false)])
        #expect(skewed[.timeDecay] == [333_333_333_333_333, 666_666_666_666_667])
    }

    /// Conservation over random paths: every model's weights are non-negative and sum to
    /// exactly one unit, the winner-takes-all models give it to one touch, and the fallbacks hold.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func everyModelsWeightsSumToExactlyOneOverRandomPaths(seed: UInt64) {
        var generator = SplitMix(seed: seed)
        for _ in 0..<2_000 {
            let count = Int(generator.next() % 40) + 1
            var starts = (0..<count).map { _ in Self.lead - Int64(generator.next() % UInt64(90 * Self.day)) }
            starts.sort()
            let touches = starts.map { start in
                let kind = generator.next() % 4
                return Touch(start: start, isDirect: kind == 0, isPaid: kind == 1)
            }
            let halfLife = [0.5, 7, 30][Int(generator.next() % 3)]
            for model in AttributionModel.allCases {
                let w = Credit.weights(touches, leadAt: Self.lead, model: model, halfLifeDays: halfLife)
                #expect(w.count == count)
                #expect(w.allSatisfy { $0 >= 0 })
                #expect(w.reduce(0, +) == Credit.unit, "\(model) over \(count) touches")
                switch model {
                case .firstClick, .lastClick, .lastNonDirect, .lastPaid: #expect(w.filter { $0 != 0 }.count == 1)
                case .linear: #expect(w.max()! - w.min()! <= 1)
                case .timeDecay:
                    // Never less for a later touch.
                    #expect(zip(w, w.dropFirst()).allSatisfy { $0 <= $1 + 1 })
                default: break
                }
                // The winner of each single-touch model is the touch its rule names.
                let winner = w.firstIndex { $0 == Credit.unit }
                let lastNonDirect = touches.lastIndex { !$0.isDirect } ?? count - 1
                switch model {
                case .firstClick: #expect(winner == 0)
                case .lastClick: #expect(winner == count - 1)
                case .lastNonDirect: #expect(winner == lastNonDirect)
                case .lastPaid: #expect(winner == (touches.lastIndex(where: \.isPaid) ?? lastNonDirect))
                default: break
                }
            }
        }
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}

import Foundation
