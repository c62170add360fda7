import Attribution
import Testing

@Suite struct ReportKeysTests {
    @Test func taggedVisitsKeepTheirTagsAsSentAndUntaggedOnesTakeTheReferrerHostOrDirect() {
        let paid = ReportKeys.ofVisit(utmSource: "yandex", utmMedium: "cpc", utmCampaign: "Вебинар_ноябрь", utmContent: "1234567",
                                      utmTerm: "курсы python", referrerHost: "yandex.ru", referrerKind: "search", traffic: "paid")
        #expect(paid == ReportKeys(source: "yandex", medium: "cpc", campaign: "Вебинар_ноябрь", ad: "1234567", keyword: "курсы python"))
        // Untagged with an external referrer: the host (already without www.), nothing else.
        #expect(ReportKeys.ofVisit(utmSource: nil, utmMedium: nil, utmCampaign: nil, utmContent: nil, utmTerm: nil,
                                   referrerHost: "vc.ru", referrerKind: "referral", traffic: "referral") == ReportKeys(source: "vc.ru"))
        #expect(ReportKeys.ofVisit(utmSource: nil, utmMedium: nil, utmCampaign: nil, utmContent: nil, utmTerm: nil,
                                   referrerHost: "yandex.ru", referrerKind: "search", traffic: "organic") == ReportKeys(source: "yandex.ru"))
        // The project's own site and no referrer are direct.
        #expect(ReportKeys.ofVisit(utmSource: nil, utmMedium: nil, utmCampaign: nil, utmContent: nil, utmTerm: nil,
                                   referrerHost: "school.ru", referrerKind: "internal", traffic: "direct") == .direct)
        #expect(ReportKeys.ofVisit(utmSource: nil, utmMedium: nil, utmCampaign: nil, utmContent: nil, utmTerm: nil,
                                   referrerHost: nil, referrerKind: "none", traffic: "direct") == .direct)
        // Tagged without a source: the external referrer's host, else (not set) — never (direct).
        #expect(ReportKeys.ofVisit(utmSource: nil, utmMedium: "email", utmCampaign: "digest", utmContent: nil, utmTerm: nil,
                                   referrerHost: nil, referrerKind: "none", traffic: "tagged") == ReportKeys(source: "(not set)", medium: "email", campaign: "digest"))
        #expect(ReportKeys.ofVisit(utmSource: nil, utmMedium: "post", utmCampaign: nil, utmContent: nil, utmTerm: nil,
                                   referrerHost: "t.me", referrerKind: "social", traffic: "tagged") == ReportKeys(source: "t.me", medium: "post"))
        // An ad click id alone (no tags, no referrer) is paid traffic, not direct: (not set).
        #expect(ReportKeys.ofVisit(utmSource: nil, utmMedium: nil, utmCampaign: nil, utmContent: nil, utmTerm: nil,
                                   referrerHost: nil, referrerKind: "none", traffic: "paid") == ReportKeys(source: "(not set)"))
        #expect(ReportKeys.unknown.source == "(unknown)" && ReportKeys.unknown.campaign.isEmpty)
    }
}
