import Attribution
import Collection
import Domain
import Foundation
import ManualCosts
import Settings
import Testing

@Suite struct ManualCostSheetTests {
    @Test func monthlyAmountsSpreadExactlyAndDailyLinesAddUp() throws {
        let sheet = try ManualCostSheet("""
            Месяц;Источник;Кампания;Сумма;Валюта;НДС
            03.2026;seo;Agency Top;1 000,00;RUB;да
            2026-02;offline;;280,01;;нет
            """, defaultCurrency: "RUB", defaultVATIncluded: false)
        let seo = sheet.rows.filter { $0.utmSource == "seo" }
        #expect(seo.count == 31)
        #expect(seo.map(\.cost).reduce(.zero, +) == Micros(decimal: "1000.00")!)
        // To the micro (definition 15): 1000 / 31 = 32.258064516…, the 16 micros left on the first days.
        #expect(seo.prefix(16).allSatisfy { $0.cost == Micros(decimal: "32.258065")! })
        #expect(seo.suffix(15).allSatisfy { $0.cost == Micros(decimal: "32.258064")! })
        // Any run of days agrees with its exact share within 0.01 (whole kopecks missed by up to 0.08 here).
        for start in 0..<31 {
            for end in (start + 1)...31 {
                let sum = Decimal(seo[start..<end].map(\.cost.value).reduce(0, +)) / 1_000_000
                let exact = Decimal(1000) * Decimal(end - start) / 31
                #expect(abs(NSDecimalNumber(decimal: sum - exact).doubleValue) < 0.01, "days \(start + 1)...\(end)")
            }
        }
        #expect(seo.allSatisfy { $0.vatIncluded == true && $0.campaignName == "Agency Top" && $0.currency == "RUB" })
        let offline = sheet.rows.filter { $0.utmSource == "offline" }
        #expect(offline.count == 28)
        #expect(offline.map(\.cost).reduce(.zero, +) == Micros(decimal: "280.01")!)
        #expect(offline.first?.cost == Micros(decimal: "10.000358")!)  // 280.01 / 28 = 10.00035714…
        let daily = try ManualCostSheet("date,source,amount\n2026-03-01,seo,10.50\n01.03.2026,seo,0.50\n2026-03-02,seo,1",
                                        defaultCurrency: "USD", defaultVATIncluded: true)
        #expect(daily.rows.map(\.cost) == [Micros(decimal: "11.00")!, Micros(decimal: "1")!])
        #expect(daily.rows.allSatisfy { $0.currency == "USD" && $0.vatIncluded == true })
    }

    /// Costs of unpaid traffic (an SEO studio, a newsletter service) name their medium, so they
    /// land in the channel of the visits they bought: SEO in organic search beside the visits
    /// from yandex.ru, a newsletter in e-mail. Without a medium a cost is paid traffic.
    @Test func aMediumPutsUnpaidTrafficsCostsInTheChannelOfTheirVisits() throws {
        let sheet = try ManualCostSheet("""
            date,source,medium,campaign,amount
            2026-03-01,yandex.ru,Organic,,100
            2026-03-01,newsletter,email,digest,5
            2026-03-01,yandex.ru,,,7
            """, defaultCurrency: "RUB", defaultVATIncluded: false)
        #expect(sheet.rows.map(\.utmMedium) == ["organic", "email", nil])
        #expect(sheet.rows.map(\.cost) == [Micros(decimal: "100")!, Micros(decimal: "5")!, Micros(decimal: "7")!])
        let classifier = ChannelClassifier(Channels())
        let seoVisit = ChannelInput(source: "yandex.ru", medium: nil, campaign: nil, traffic: "organic")
        let seoCost = ChannelInput.spend(source: "yandex.ru", medium: sheet.rows[0].utmMedium, campaign: nil)
        #expect(classifier.classify(seoCost).channel == classifier.classify(seoVisit).channel)
        #expect(classifier.classify(seoCost).channel == "organic_search")
        let mailVisit = ChannelInput(source: "newsletter", medium: "email", campaign: "digest", traffic: "tagged")
        let mailCost = ChannelInput.spend(source: "newsletter", medium: sheet.rows[1].utmMedium, campaign: "digest")
        #expect(classifier.classify(mailCost).channel == classifier.classify(mailVisit).channel)
        #expect(classifier.classify(ChannelInput.spend(source: "yandex.ru", medium: nil, campaign: nil)).channel == "paid_search")
    }

    @Test func badLinesAreNamed() {
        func failure(_ text: String) -> String {
            do { _ = try ManualCostSheet(text, defaultCurrency: "RUB", defaultVATIncluded: false); return "" } catch { return "\(error)" }
        }
        #expect(failure("date,source,amount\n2026-03-01,seo,10.505").contains("line 2: amount"))
        #expect(failure("date,source,amount\n2026-03-01,seo,abc").contains("line 2: amount"))
        #expect(failure("date,source,amount\n2026-13-01,seo,1").contains("line 2: date"))
        #expect(failure("date,source,amount\n2026-03-01,,1").contains("line 2: source"))
        #expect(failure("date,month,source,amount\n2026-03-01,2026-03,seo,1").contains("not both"))
        #expect(failure("date,source,amount,vat\n2026-03-01,seo,1,maybe").contains("line 2: vat"))
        #expect(failure("date,source,amount,currency\n2026-03-01,seo,1,USD\n2026-03-01,seo,1,EUR").contains("line 3"))
        #expect(failure("source,amount\nseo,1").contains("date or a month"))
    }
}
