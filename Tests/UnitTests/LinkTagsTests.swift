import Collection
import Testing

@Suite struct LinkTagsTests {
    @Test func aWholeURLsQueryIsReadAndMacrosExpanded() {
        let tags = LinkTags.resolve(
            ["https://shop.example/sale/?utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_id}&utm_content={ad_id}&utm_term={keyword}#top"],
            syntax: .braces, macros: ["campaign_id": "7001", "ad_id": "55", "keyword": "купить диван"])
        #expect(tags == LinkTags(source: "yandex", medium: "cpc", campaign: "7001", content: "55", term: "купить диван",
                                 template: "utm_source=yandex&utm_medium=cpc&utm_campaign={campaign_id}&utm_content={ad_id}&utm_term={keyword}"))
    }

    @Test func earlierSettingsWinPerKeyAndClickMacrosAreUnknown() {
        let tags = LinkTags.resolve(["utm_campaign=spring_{campaign_id}&utm_term={source}", "?utm_campaign=group&utm_medium=ppc"],
                                    syntax: .braces, macros: ["campaign_id": "9"])
        #expect(tags?.campaign == "spring_9")
        #expect(tags?.medium == "ppc")
        #expect(tags?.term == nil)  // {source} depends on the click
        #expect(tags?.template == "utm_campaign=spring_{campaign_id}&utm_term={source}&utm_medium=ppc")
    }

    @Test func percentEncodingPlusSignsAndKeyCaseAreDecoded() {
        let tags = LinkTags.resolve(["UTM_Source=vk&utm_campaign=%D0%B2%D0%B5%D1%81%D0%BD%D0%B0+2026&utm_content=%7B%7Bbanner_id%7D%7D"],
                                    syntax: .doubleBraces, macros: ["banner_id": "5001"])
        #expect(tags?.source == "vk")
        #expect(tags?.campaign == "весна 2026")
        #expect(tags?.content == "5001")
    }

    @Test func doubleBraceMacrosAreCaseInsensitiveAndSettingsWithoutUTMGiveNothing() {
        let tags = LinkTags.resolve(["utm_campaign={{Campaign.Name}}-{{adset.id}}"], syntax: .doubleBraces,
                                    macros: ["campaign.name": "Spring", "adset.id": "12"])
        #expect(tags?.campaign == "Spring-12")
        #expect(LinkTags.resolve(["{lpurl}", "gclid={gclid}&ref=1", nil], syntax: .braces, macros: [:]) == nil)
        #expect(LinkTags.resolve([], syntax: .braces, macros: [:]) == nil)
        // An empty value is no value.
        #expect(LinkTags.resolve(["utm_campaign=&utm_source=x"], syntax: .braces, macros: [:])?.campaign == nil)
    }
}
