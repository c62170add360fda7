import Collection
import Collectors
import Domain
import Foundation
import GoogleAds
import Meta
import Postgres
import Sandbox
import Settings
import Testing
import VKAds
import YandexDirect

/// The UTM values each network's own link settings give the spend rows, read from the fakes:
/// Direct ads and ad groups, Google Ads suffixes and templates, Meta creative URL tags, VK Ads
/// ad-group UTM settings; `campaign_tag: network` and the `spend tags` audit.
@Suite struct LinkTagsCollectionTests {
    typealias Direct = DirectCollectorTests

    @Test func directAdTitlesAndLinkTagsComeFromAdsAndAdGroupsPageByPage() async throws {
        let world = try await Direct.World.make()
        var knobs = FakeYandexDirect.Knobs()
        knobs.adHref = "https://school.example/course?utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_id}&utm_content={ad_id}&utm_term={keyword}&pos={position}"
        knobs.trackingParams = "utm_medium=ppc&from={source}&utm_source=direct&utm_campaign=ignored"
        knobs.objectsPageLimit = 4
        knobs.objectErrorCodes = [1000]  // retried
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(world.settings(baseURL: url))
            #expect(report.succeeded, "\(report.failures)")
            #expect(try await world.stored() == world.fake.totals(login: "school-login"))
            // 6 ads and 6 groups, 4 a page: two pages each — read once for the run, although both
            // chunks hold the same campaigns (get calls cost API units).
            #expect(world.fake.objectCalls.filter { $0 == "ads" }.count == 2)
            #expect(world.fake.objectCalls.filter { $0 == "adgroups" }.count == 2)
            let row = try await world.query("""
                SELECT ad_name, utm_source, utm_medium, utm_campaign, utm_content, utm_term, link_template, link_utm_source,
                       link_utm_medium, link_utm_campaign, link_utm_content, link_utm_term, campaign_name, ad_id, keyword
                FROM spend.facts WHERE campaign_id = '7002' AND ad_id = '2001' AND keyword_id = '2' AND day = '2026-03-04'
                """)[0]
            #expect(try row.decode(String?.self, 0) == FakeYandexDirect.title(ofAd: 2001))
            // The report keys stay as definition 2 pins them; the links are kept beside them.
            #expect(try row.decode(String.self, 1) == "yandex")
            #expect(try row.decode(String?.self, 2) == "cpc")  // the ad's own medium wins over the group's
            #expect(try row.decode(String?.self, 3) == "Campaign 2")
            #expect(try row.decode(String?.self, 4) == "2001")
            #expect(try row.decode(String?.self, 5) == "keyword 2")
            #expect(try row.decode(String?.self, 6) == "utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_id}&utm_content={ad_id}&utm_term={keyword}")
            #expect(try row.decode(String?.self, 7) == "yandex")
            #expect(try row.decode(String?.self, 8) == "cpc")
            #expect(try row.decode(String?.self, 9) == "7002")
            #expect(try row.decode(String?.self, 10) == "2001")
            #expect(try row.decode(String?.self, 11) == "keyword 2")
            // The Wizard campaign has no ads: no links, no title.
            let wizard = try await world.query("SELECT ad_name, link_template FROM spend.facts WHERE campaign_id = '7999'")[0]
            #expect(try wizard.decode(String?.self, 0) == nil)
            #expect(try wizard.decode(String?.self, 1) == nil)

            // The audit names the three campaigns whose links carry ids while spend is keyed by name.
            let audit = try await LinkTagAudit.campaigns(project: "school", source: nil, from: Direct.day("2026-03-01"),
                                                         to: Direct.day("2026-03-10"), pool: PGPool(PGConfiguration(url: world.databaseURL), logger: world.logger))
            #expect(audit.filter(\.disagrees).map(\.campaignID).sorted() == ["7001", "7002", "7003"])
            #expect(audit.allSatisfy { $0.advice.contains("campaign_tag: id") })
            // The operator's command says the same and exits 2.
            let config = try Direct.configFile(url: url, options: "{}")
            let environment = ["DATABASE_URL": world.databaseURL, "DIRECT_TOKEN": Direct.token]
            let command = try ChildProcess("analytics", arguments: ["spend", "tags", "--from", "2026-03-01", "--to", "2026-03-10", "--config", config],
                                           environment: environment)
            #expect(await command.waitForExit(seconds: 60) == 2, "\(command.log)")
            #expect(command.log.contains("3 campaign key sets with link settings, 3 disagree"), "\(command.log)")
            #expect(command.log.contains("direct/school-login campaign 7002 \"Campaign 2\""))
            #expect(command.log.contains("links say   utm_source=yandex utm_campaign=7002"))
            #expect(command.log.contains("→ the links carry the campaign id: set the source's campaign_tag: id"))

            // campaign_tag: network keys spend by what the links say; the audit is then clean.
            _ = try await world.collect(world.settings(baseURL: url, options: ["campaign_tag": "network"]))
            #expect(try await world.stored() == world.fake.totals(login: "school-login"))
            let keyed = try await world.query("""
                SELECT count(*) FILTER (WHERE utm_campaign = campaign_id AND utm_content = ad_id AND utm_term = keyword),
                       count(*) FILTER (WHERE utm_campaign = campaign_name), count(*) FROM spend.facts
                """)[0]
            #expect(try keyed.decode(Int.self, 0) == 120)
            #expect(try keyed.decode(Int.self, 1) == 1)  // Wizard: no links, so its name
            let after = try await LinkTagAudit.campaigns(project: "school", source: nil, from: Direct.day("2026-03-01"),
                                                         to: Direct.day("2026-03-10"), pool: PGPool(PGConfiguration(url: world.databaseURL), logger: world.logger))
            #expect(after.count == 3 && after.allSatisfy { !$0.disagrees })
            let clean = try ChildProcess("analytics", arguments: ["spend", "tags", "--from", "2026-03-01", "--to", "2026-03-10", "--config", config],
                                         environment: environment)
            #expect(await clean.waitForExit(seconds: 60) == 0, "\(clean.log)")
        }
    }

    @Test func directOutOfUnitsWhileReadingAdsFailsTheChunkAndLinksOffSkipsTheCalls() async throws {
        let world = try await Direct.World.make()
        var knobs = FakeYandexDirect.Knobs()
        knobs.adHref = "https://school.example/?utm_campaign={campaign_name}"
        knobs.objectErrorCodes = [152]
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let failed = try await world.collect(world.settings(baseURL: url), from: "2026-03-01", to: "2026-03-05")
            #expect(failed.failures.count == 1)
            #expect(failed.failures.first?.contains("ads and ad groups: Yandex Direct error 152") == true)
            #expect(try await world.query("SELECT count(*) FROM spend.facts")[0].decode(Int.self, 0) == 0)

            let calls = world.fake.objectCalls.count
            let off = try await world.collect(world.settings(baseURL: url, options: ["links": "off"]))
            #expect(off.succeeded)
            #expect(world.fake.objectCalls.count == calls)
            #expect(try await world.query("SELECT count(*) FROM spend.facts WHERE link_template IS NOT NULL OR ad_name IS NOT NULL")[0]
                .decode(Int.self, 0) == 0)
        }
    }

    @Test func googleAdsTakesTheMostSpecificLevelsSuffixOrTemplate() async throws {
        let world = try await GoogleAdsCollectorTests.World.make()
        var knobs = FakeGoogleAds.Knobs()
        knobs.batchSize = 7
        knobs.campaignFinalURLSuffix = "utm_source=google&utm_medium=cpc&utm_campaign={campaignid}"
        knobs.adGroupTrackingTemplate = "{lpurl}?utm_content={adgroupid}&utm_term={keyword}&utm_campaign=group-level"
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(baseURL: url)
            #expect(report.succeeded, "\(report.failures)")
            let row = try await world.query("""
                SELECT link_utm_source, link_utm_medium, link_utm_campaign, link_utm_content, link_utm_term, utm_medium, utm_campaign, link_template
                FROM spend.facts WHERE ad_group_id = '7721' AND day = '2026-03-02'
                """)[0]
            #expect(try row.decode(String?.self, 0) == "google")
            #expect(try row.decode(String?.self, 1) == "cpc")
            #expect(try row.decode(String?.self, 2) == "group-level")  // the ad group's setting wins over the campaign's
            #expect(try row.decode(String?.self, 3) == "7721")
            #expect(try row.decode(String?.self, 4) == nil)  // {keyword} is set per click
            #expect(try row.decode(String?.self, 5) == "cpc")
            #expect(try row.decode(String?.self, 6) == "Search 2")
            #expect(try row.decode(String?.self, 7) == "utm_content={adgroupid}&utm_term={keyword}&utm_campaign=group-level&utm_source=google&utm_medium=cpc")
        }
    }

    @Test func metaReadsCreativeURLTagsAndExpandsNameMacros() async throws {
        let world = try await MetaCollectorTests.World.make()
        var knobs = FakeMeta.Knobs()
        knobs.urlTags = "utm_source=facebook&utm_medium=paid_social&utm_campaign={{campaign.name}}&utm_content={{ad.id}}&utm_term={{placement}}"
        world.fake.setKnobs(knobs)
        try await FakeServer.serve(world.fake.router()) { url in
            let report = try await world.collect(baseURL: url)
            #expect(report.succeeded, "\(report.failures)")
            #expect(try await world.stored() == world.fake.totals(account: "1234567890"))
            let check = try await world.pool.query("""
                SELECT count(*), count(*) FILTER (WHERE link_utm_campaign = campaign_name AND link_utm_content = ad_id
                    AND link_utm_source = 'facebook' AND utm_medium = 'paid_social' AND link_utm_term IS NULL) FROM spend.facts
                """)[0]
            #expect(try check.decode(Int.self, 0) == 48)
            #expect(try check.decode(Int.self, 1) == 48)
        }
    }

    @Test func vkAdsGroupAndMyTargetCampaignUTMSettingsResolveTheirMacros() async throws {
        for flavor in [VKAdsClient.Flavor.vkAds, .myTarget] {
            let fake = VKAdsCollectorTests.world(flavor)
            var knobs = FakeVKAds.Knobs()
            knobs.utm = "utm_source=vk&utm_medium=cpc&utm_campaign={{campaign_name}}&utm_content={{banner_id}}&utm_term={{geo}}"
            fake.setKnobs(knobs)
            let database = try await TestStack.freshDatabase()
            try await FakeServer.serve(fake.router()) { url in
                let report = try await VKAdsCollectorTests().collect(fake, url: url, databaseURL: database, flavor: flavor)
                #expect(report.succeeded, "\(report.failures)")
                let pool = PGPool(PGConfiguration(url: database), logger: TestStack.logger)
                // VK Ads: {{campaign_name}} is the ad group (myTarget's campaign); myTarget: the campaign.
                let named = flavor == .vkAds ? "ad_group_name" : "campaign_name"
                let check = try await pool.query("""
                    SELECT count(*), count(*) FILTER (WHERE link_utm_campaign = \(named) AND link_utm_content = ad_id
                        AND link_utm_source = 'vk' AND utm_medium = 'cpc' AND link_utm_term IS NULL) FROM spend.facts
                    """)[0]
                #expect(try check.decode(Int.self, 0) > 0)
                #expect(try check.decode(Int.self, 1) == check.decode(Int.self, 0))
                await pool.close()
            }
        }
    }
}
