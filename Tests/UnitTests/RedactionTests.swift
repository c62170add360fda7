import Domain
import Testing

@Suite struct RedactionTests {
    @Test func passwordsAreMaskedInEveryForm() {
        #expect(Redaction.url("postgresql://app:s3cret@db:5432/analytics") == "postgresql://app:***@db:5432/analytics")
        #expect(Redaction.url("amqp://u:p@ss@mq:5672/%2f") == "amqp://u:***@mq:5672/%2f")
        #expect(!Redaction.url("postgresql://db/analytics?user=app&password=s3cret&sslmode=require").contains("s3cret"))
        #expect(!Redaction.url("host=db user=app password='s3 cret' dbname=x").contains("s3 cret"))
        #expect(!Redaction.url("host=db password=s3cret dbname=x").contains("s3cret"))
        #expect(Redaction.url("postgresql://app@db/analytics") == "postgresql://app@db/analytics")
    }

    @Test func errorMessagesLoseTheSecretWhereverItIsQuoted() {
        let url = "postgresql://app:hunter2@db:5432/analytics?bad"
        let message = "invalid URI query parameter: \"bad\" in \(url); password hunter2 rejected"
        let scrubbed = Redaction.scrub(message, connection: url)
        #expect(!scrubbed.contains("hunter2"))
        #expect(scrubbed.contains("invalid URI query parameter"))
    }
}
