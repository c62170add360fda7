import Aggregation
import Domain
import Foundation
import Runtime
import Settings
import Testing

/// What the aggregator makes of its messages (issue 6): a batch's days per project, coalesced,
/// and bad messages refused naming what is wrong (the runtime dead-letters them with the reason).
@Suite struct AggregatorMessagesTests {
    struct Dirty: Encodable {
        let leads: [String]; let deals: [String]; let days: [String]; var dealDays: [String]? = nil
        enum CodingKeys: String, CodingKey { case leads, deals, days, dealDays = "deal_days" }
    }
    struct Spend: Encodable { let source: String; let account: String; let from: String; let to: String; let run: UUID }

    static func envelope(_ type: String, project: String = "school", _ payload: some Encodable) throws -> Envelope {
        try Envelope(decoding: Envelope.encode(type: type, project: project, payload: payload))
    }

    static func day(_ text: String) -> LocalDay { LocalDay(iso: text)! }

    @Test func aBurstOfMessagesBecomesOneSetOfDaysPerProject() throws {
        let batch = [
            try Self.envelope(ClusterTopology.attributionDirty, Dirty(leads: ["r1"], deals: [], days: ["2026-03-02", "2026-03-03"])),
            try Self.envelope(ClusterTopology.attributionDirty, Dirty(leads: ["r2"], deals: [], days: ["2026-03-03"])),
            try Self.envelope(ClusterTopology.spendUpdated, Spend(source: "yandex", account: "a", from: "2026-03-03", to: "2026-03-05", run: UUID())),
            try Self.envelope(ClusterTopology.attributionDirty, project: "shop", Dirty(leads: [], deals: ["amo/7"], days: ["2026-03-01"])),
        ]
        let partitions = try AggregatorHandler.partitions(of: batch)
        #expect(partitions == [
            "school": .init(days: [Self.day("2026-03-02"), Self.day("2026-03-03"), Self.day("2026-03-04"), Self.day("2026-03-05")]),
            "shop": .init(days: [Self.day("2026-03-01")]),
        ])
    }

    @Test func aDayIsDealOnlyWhenEveryMessageOfTheBatchNamingItSaysSo() throws {
        let batch = [
            // 03-02 and 03-03 changed only in their deals here...
            try Self.envelope(ClusterTopology.attributionDirty,
                              Dirty(leads: ["r1"], deals: [], days: ["2026-03-01", "2026-03-02", "2026-03-03"], dealDays: ["2026-03-02", "2026-03-03"])),
            // ...but 03-03 got a visit in another message, and 03-04 a spend update.
            try Self.envelope(ClusterTopology.attributionDirty, Dirty(leads: [], deals: [], days: ["2026-03-03"])),
            try Self.envelope(ClusterTopology.attributionDirty, Dirty(leads: ["r2"], deals: [], days: ["2026-03-04", "2026-03-06"], dealDays: ["2026-03-04", "2026-03-06"])),
            try Self.envelope(ClusterTopology.spendUpdated, Spend(source: "yandex", account: "a", from: "2026-03-04", to: "2026-03-04", run: UUID())),
        ]
        let partitions = try AggregatorHandler.partitions(of: batch)
        #expect(partitions["school"]?.days == Set(["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-06"].map(Self.day)))
        #expect(partitions["school"]?.dealsOnly == Set(["2026-03-02", "2026-03-06"].map(Self.day)))
    }

    @Test func badMessagesAreRefusedNamingWhatIsWrong() throws {
        let cases: [(Envelope, String)] = [
            (try Self.envelope(ClusterTopology.attributionDirty, Dirty(leads: [], deals: [], days: ["2026-02-30"])), "days: '2026-02-30' is not a date"),
            (try Self.envelope(ClusterTopology.attributionDirty, Dirty(leads: [], deals: [], days: ["2026-03-01"], dealDays: ["2026-03-1"])),
             "deal_days: '2026-03-1' is not a date"),
            (try Self.envelope(ClusterTopology.attributionDirty, Dirty(leads: [], deals: [], days: ["2026-03-01"], dealDays: ["2026-03-02"])),
             "deal_days: every day must be one of days"),
            (try Self.envelope(ClusterTopology.spendUpdated, Spend(source: "y", account: "a", from: "2026-03-05", to: "2026-03-01", run: UUID())),
             "from/to: '2026-03-05'..'2026-03-01' is not a range of dates"),
            (try Self.envelope(ClusterTopology.spendUpdated, Spend(source: "y", account: "a", from: "2000-01-01", to: "2026-03-01", run: UUID())),
             "spans more than ten years"),
            (try Self.envelope(ClusterTopology.eventsTracked, TrackedBatch()), "the aggregator does not take events.tracked messages"),
        ]
        for (envelope, problem) in cases {
            #expect { try AggregatorHandler.partitions(of: [envelope]) } throws: { "\($0)".contains(problem) }
        }
    }

    @Test func aCRMSourceWithAnUnreadableStageMappingStopsTheAggregatorNamingIt() {
        let project = Project(id: "school", name: "School", sources: [Source(id: "amo", kind: "amocrm", options: ["status.142": "sold"])])
        #expect { try ReportBuilder(project: project) } throws: {
            "\($0)".contains("project school, source amo") && "\($0)".contains("status.142")
        }
        #expect { try AggregatorHandler(projects: [project]) } throws: { "\($0)".contains("source amo") }
    }

    @Test func reportsNameANetworksSourceByItsConfiguredOrDefaultUTMSource() {
        let project = Project(id: "school", name: "School", sources: [
            Source(id: "direct", kind: "yandex_direct", options: ["utm_source": "YaDirect"]),
            Source(id: "vk", kind: "vk_ads"),
            Source(id: "seo", kind: "manual_costs"),
        ])
        let names = AdNetworks.sourceNames(of: project)
        #expect(names["yadirect"] == "Yandex Direct")
        #expect(names["vk"] == "VK Ads")
        #expect(names["facebook"] == "Meta")  // a network's default even when the project has no such source
        #expect(names["seo"] == nil)
        #expect(AdNetworks.defaultUTMSource(kind: "mytarget", otherwise: "x") == "mytarget")
        #expect(AdNetworks.defaultUTMSource(kind: "manual_costs", otherwise: "manual") == "manual")
    }
}
