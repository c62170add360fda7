import Attribution
import Settings
import Testing
import Yams

@Suite struct ChannelRulesTests {
    static func input(_ source: String, _ medium: String?, _ campaign: String? = nil, _ traffic: String = "paid") -> ChannelInput {
        ChannelInput(source: source, medium: medium, campaign: campaign, traffic: traffic)
    }

    @Test func builtInChannelsFollowTrafficMediumAndSource() {
        let c = ChannelClassifier(Channels())
        #expect(c.classify(Self.input("yandex", "cpc")).channel == "paid_search")
        #expect(c.classify(Self.input("google", "ppc")).channel == "paid_search")
        #expect(c.classify(Self.input("vk", "cpc")).channel == "paid_social")
        #expect(c.classify(Self.input("facebook", "paid_social")).channel == "paid_social")
        #expect(c.classify(Self.input("yandex", "CPM")).channel == "display")
        #expect(c.classify(Self.input("sendpulse", "Email", nil, "tagged")).channel == "email")
        #expect(c.classify(Self.input("flyer", "offline", nil, "tagged")).channel == "offline")
        #expect(c.classify(Self.input("yandex.ru", nil, nil, "organic")).channel == "organic_search")
        #expect(c.classify(Self.input("vk.com", nil, nil, "social")).channel == "social")
        #expect(c.classify(Self.input("vc.ru", nil, nil, "referral")).channel == "referral")
        #expect(c.classify(Self.input("(direct)", nil, nil, "direct")).channel == "direct")
        #expect(c.classify(Self.input("(unknown)", nil, nil, "unknown")).channel == "unknown")
        #expect(c.classify(Self.input("telegram", "post", nil, "tagged")).channel == "social")
        #expect(c.classify(Self.input("partner-blog", "referral", nil, "tagged")).channel == "referral")
        #expect(c.classify(Self.input("yandex", "cpc")).contractor == nil)
        // Social hosts by domain; untagged Meta and VK clicks are social ads.
        #expect(c.classify(Self.input("l.facebook.com", nil)).channel == "paid_social")
        #expect(c.classify(Self.input("m.vk.com", nil, nil, "social")).channel == "social")
        #expect(c.classify(Self.input("m.vk.com", "smm-link", nil, "tagged")).channel == "social")
        #expect(c.classify(ChannelInput(source: "(not set)", medium: nil, campaign: nil, traffic: "paid", clickIDKind: "fbclid")).channel == "paid_social")
        #expect(c.classify(ChannelInput(source: "(not set)", medium: nil, campaign: nil, traffic: "paid", clickIDKind: "gclid")).channel == "paid_search")
        #expect(c.classify(Self.input("notvk.com", nil)).channel == "paid_search")
    }

    @Test func aSpendRowLandsInTheChannelOfTheVisitsThatCarryItsTags() {
        let c = ChannelClassifier(Channels())
        // Visits as the tracker classifies them (definition 4) against the spend row's tags.
        for (source, medium, visitTraffic) in [("yandex", "cpc", "paid"), ("telegram", "ads", "tagged"), ("vk", "video", "tagged"),
                                               ("google", "CPM", "paid"), ("mytarget", "paid_social", "paid")] {
            let visit = c.classify(Self.input(source, medium, "c", visitTraffic))
            #expect(c.classify(ChannelInput.spend(source: source, medium: medium, campaign: "c")) == visit, "\(source)/\(medium)")
        }
        // A spend row without a known medium was paid for.
        #expect(c.classify(ChannelInput.spend(source: "yandex", medium: nil, campaign: "c")).channel == "paid_search")
    }

    @Test func projectRulesComeFirstAndSetChannelAndContractorIndependently() throws {
        let yaml = """
            rules:
              - source: yandex
                campaign: "*_RSYA*"
                channel: display
              - source: [yandex, google]
                contractor: "Агентство Альфа"
              - source: v?
                contractor: "SMM Север"
              - medium: partner
                traffic: tagged
                channel: referral
                contractor: "Партнёры"
            """
        let channels = try YAMLDecoder().decode(Channels.self, from: yaml)
        let c = ChannelClassifier(channels)
        // Glob on the campaign, case-insensitive; the contractor comes from a later rule.
        #expect(c.classify(Self.input("yandex", "cpc", "webinar_rsya_nov")) == ("display", "Агентство Альфа"))
        #expect(c.classify(Self.input("yandex", "cpc", "search_brand")) == ("paid_search", "Агентство Альфа"))
        #expect(c.classify(Self.input("Google", "cpc")) == ("paid_search", "Агентство Альфа"))
        #expect(c.classify(Self.input("vk", "cpc")) == ("paid_social", "SMM Север"))
        // `?` is exactly one character.
        #expect(c.classify(Self.input("vkads", "cpc")) == ("paid_social", nil))
        #expect(c.classify(Self.input("site", "partner", nil, "tagged")) == ("referral", "Партнёры"))
        #expect(c.classify(Self.input("site", "partner", nil, "paid")) == ("paid_search", nil))
        // A condition on a missing medium matches only a pattern that accepts the empty string.
        #expect(ChannelClassifier(Channels(rules: [ChannelRule(medium: ["*"], channel: "offline")])).classify(Self.input("site", nil)).channel == "offline")
        #expect(ChannelClassifier(Channels(rules: [ChannelRule(medium: ["?*"], channel: "offline")])).classify(Self.input("site", nil)).channel == "paid_search")
    }

    @Test func badRulesAreRefusedNamingThePlace() throws {
        func problem(_ yaml: String) -> String {
            do {
                try Settings.parse(yaml: """
                    projects:
                      - id: school
                        channels:
                    \(yaml.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
                    """).validate()
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(problem("rules:\n  - source: yandex").contains("projects[0].channels.rules[0]: names neither a channel nor a contractor"))
        #expect(problem("rules:\n  - source: yandex\n    channel: seo").contains("projects[0].channels.rules[0].channel: 'seo' is not one of"))
        #expect(problem("rules:\n  - traffic: cpc\n    channel: display").contains("projects[0].channels.rules[0].traffic: 'cpc' is not one of"))
        #expect(problem("rules:\n  - source: []\n    channel: display").contains("an empty list matches nothing"))
        #expect(problem("rules:\n  - source: yandex\n    channel: display") == "accepted")
        // The half-life of time decay sits beside the rules.
        func halfLife(_ value: String) -> String {
            do {
                try Settings.parse(yaml: "projects:\n  - id: school\n    attribution:\n      half_life_days: \(value)\n").validate()
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(halfLife("0").contains("projects[0].attribution.half_life_days: 0.0 is not between 0.01 and 3650"))
        #expect(halfLife("-3").contains("is not between"))
        #expect(halfLife("3.5") == "accepted")
        #expect(try Settings.parse(yaml: "projects:\n  - id: school\n").projects[0].attribution.halfLifeDays == 7)
    }
}
