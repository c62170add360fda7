import Foundation
import Settings
import Testing

@Suite struct SettingsTests {
    let yaml = """
        database_url: postgresql://app:dbpass@db:5432/analytics
        projects:
          - id: school
            name: Online school
            time_zone: Europe/Moscow
            currency: RUB
            ingest_key: {env: SCHOOL_INGEST_KEY}
            sources:
              - id: direct-main
                kind: yandex_direct
                account: school-agency
                credentials:
                  token: {env: DIRECT_TOKEN}
                  other: {value: inline-s3cret}
                options: {utm_source: yandex}
        """

    @Test func fileThenEnvironment() throws {
        var settings = try Settings.parse(yaml: yaml)
        #expect(settings.projects.first?.sources.first?.options["utm_source"] == "yandex")
        let path = NSTemporaryDirectory() + "settings-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        settings = try Settings.load(path: path, environment: ["AMQP_URL": "amqp://u:p@mq:5672/%2f", "LOG_LEVEL": "debug"])
        #expect(settings.databaseURL == "postgresql://app:dbpass@db:5432/analytics")
        #expect(settings.amqpURL == "amqp://u:p@mq:5672/%2f")
        #expect(settings.logLevel == "debug")
        #expect(settings.project("school")?.timeZone == "Europe/Moscow")
    }

    @Test func secretsResolveByReferenceAndNeverPrint() throws {
        let settings = try Settings.parse(yaml: yaml)
        let token = try #require(settings.projects.first?.sources.first?.credentials["token"])
        #expect(try token.resolve(environment: ["DIRECT_TOKEN": "y0_AgAAAA-secret"]) == "y0_AgAAAA-secret")
        #expect(throws: SettingsError.self) { try token.resolve(environment: [:]) }
        do {
            _ = try token.resolve(environment: [:])
        } catch {
            #expect("\(error)".contains("DIRECT_TOKEN"))
        }
        let dump = try settings.redactedYAML()
        #expect(!dump.contains("dbpass"))
        #expect(!dump.contains("inline-s3cret"))
        #expect(dump.contains("DIRECT_TOKEN"))
        #expect(!"\(token)".contains("secret") || "\(token)".contains("<secret from env"))
    }

    @Test func theExampleConfigurationLoadsAndPrintsCyrillicNamesAsWritten() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let settings = try Settings.load(path: root.appendingPathComponent("docs/examples/analytics.yaml").path, environment: [:])
        try settings.validate()
        let school = try #require(settings.project("school"))
        #expect(school.channels.rules.map(\.contractor) == ["Агентство Альфа", "Фрилансер Иванов", "Канал «Кодим»"])
        #expect(school.attribution.halfLifeDays == 7)
        let dump = try settings.redactedYAML()
        #expect(dump.contains("contractor: Агентство Альфа"))
        #expect(!dump.contains("\\u0410"))
    }

    @Test func badValuesNameTheKey() {
        func message(_ text: String) -> String {
            do { _ = try Settings.parse(yaml: text).validate(); return "" } catch { return "\(error)" }
        }
        #expect(message("projects:\n  - id: Bad Id\n").contains("projects[0].id"))
        #expect(message("projects:\n  - id: a\n    time_zone: Europe/Mosco\n").contains("time_zone"))
        #expect(message("projects:\n  - id: a\n    currency: rub\n").contains("currency"))
        #expect(message("projects:\n  - id: a\n  - id: a\n").contains("used twice"))
        #expect(message("projects:\n  - id: a\n    sources:\n      - id: s\n").contains("kind"))
        #expect(message("projects:\n  - id: a\n    ingest_key: {env: A, file: B}\n").contains("exactly one"))
        #expect(message("projects:\n  - id: a\n    linking: {lookback_days: 0}\n").contains("projects[0].linking.lookback_days"))
        #expect(message("projects:\n  - id: a\n    linking: {customer_cap: 1}\n").contains("projects[0].linking.customer_cap"))
        #expect(message("projects:\n  - id: a\n    linking: {blocked: [\"+7 495 000-00-00\", \"12345\"]}\n").contains("projects[0].linking.blocked[1]"))
    }

    @Test func linkingSettingsDefaultAndNormaliseBlockedValues() throws {
        let settings = try Settings.parse(yaml: """
            projects:
              - id: a
              - id: b
                linking: {lookback_days: 7, contact_max_age_days: 90, blocked: ["8 (495) 000-00-00", " Test@Example.COM "]}
            """)
        _ = try settings.validate()
        #expect(settings.projects[0].linking == Linking())
        #expect(settings.projects[0].linking.lookbackDays == 30 && settings.projects[0].linking.duplicateWindowHours == 12)
        #expect(settings.projects[1].linking.lookbackDays == 7 && settings.projects[1].linking.contactMaxAgeDays == 90)
        #expect(settings.projects[1].linking.blockedKeys == ["p:+74950000000", "e:test@example.com"])
    }
}
