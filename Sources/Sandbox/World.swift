import Domain
import Foundation
import Runtime
import Tracker

/// A seeded, generated world of one online school: people with devices and visits from every
/// kind of traffic, leads (with duplicates and phones in every format), deals in amoCRM and
/// Bitrix24 (with and without linking fields), repeat purchases, instalments and refunds — and
/// the ground truth of every link, duplicate and sale, known by construction.
///
/// The same seed and spec always give the same world. Tests, benchmarks and the demo use it:
/// visits and leads as a website posts them (`visitBodies`, `leadBodies`) or as the tracker
/// hands them on (`visits`, `leads`), deals as the CRMs hold them.
public struct World: Sendable {
    public struct Spec: Sendable {
        public var seed: UInt64
        public var project = "school"
        /// The first day (Moscow time) and how many days the world spans.
        public var start = "2026-03-01"
        public var days: Int
        public var people: Int
        /// Mean visits per person (at least 1 each).
        public var visitsPerPerson = 5.0
        /// Share of people who leave a lead; of those, share who come back with a second.
        public var leadShare = 0.4
        public var secondLeadShare = 0.2
        /// Share of leads resubmitted within hours (duplicates).
        public var duplicateShare = 0.15
        /// Share of leads that become deals; of the buyers, share who buy again.
        public var dealShare = 0.2
        public var repeatShare = 0.2
        /// Won deals of people the site never saw (orphan revenue), per 100 deals.
        public var offlineDealsPer100 = 2.0

        public init(seed: UInt64, days: Int, people: Int) {
            self.seed = seed
            self.days = days
            self.people = people
        }
    }

    /// A lead as the site posts it, with what the generator meant by it.
    public struct Lead: Sendable {
        public var tracked: TrackedLead
        /// The phone as the visitor typed it.
        public var postedPhone: String?
        public var person: Int
        /// The lead this one resubmits (ground truth of definition 6), nil for an original.
        public var duplicateOf: String?
    }

    public struct Contact: Sendable {
        public var id: String
        public var name: String
        /// As a manager typed them in the CRM.
        public var phones: [String]
        public var emails: [String]
    }

    public struct Payment: Sendable {
        public var at: Int64
        /// Minor units (kopecks); negative: a refund.
        public var amount: Int64
        /// false: an expected instalment not received (yet).
        public var paid: Bool
    }

    public struct Deal: Sendable {
        public enum CRM: String, Sendable { case amocrm, bitrix24 }
        public var crm: CRM
        public var connection: String
        public var id: String
        public var person: Int
        public var createdAt: Int64
        public var closedAt: Int64?
        public var status: String
        public var pipeline: String
        public var product: String
        /// Minor units (kopecks).
        public var amount: Int64
        public var contact: Contact
        public var requestID: String?
        public var visitID: String?
        public var payments: [Payment]
        /// Ground truth of definition 8: the lead and the rule, nil for a deal that links to
        /// nothing.
        public var truth: (lead: String, rule: String)?
    }

    public var spec: Spec
    public var visits: [TrackedVisit]
    public var leads: [Lead]
    public var deals: [Deal]
    /// Microseconds since the epoch of the world's first instant.
    public var startMicros: Int64
    /// What the ad networks charged, per day and ad (and keyword in Direct), in each account's
    /// own currency and VAT-free (`WorldSpend.swift`).
    public var spend: [SpendRow]

    public static let products: [(name: String, price: Int64)] = [("Python с нуля", 6_000_000), ("UX-дизайн", 4_500_000), ("Английский", 3_000_000)]

    /// Paid traffic: (utm_source, utm_medium, click id parameter, campaigns, weight).
    public static let paidChannels: [(source: String, medium: String, click: String?, campaigns: [String], weight: Double)] = [
        ("yandex", "cpc", "yclid", ["python_search", "design_search", "english_search", "brand"], 0.22),
        ("vk", "cpm", "rb_clickid", ["python_feed", "webinar_march"], 0.12),
        ("google", "cpc", "gclid", ["python_search_g", "design_search_g"], 0.08),
        ("facebook", "paid_social", "fbclid", ["design_reels"], 0.05),
        ("mytarget", "cpm", "rb_clickid", ["english_ok"], 0.04),
    ]
    /// Unpaid traffic: (referrer, utm tags, weight); nil referrer and no tags is direct.
    public static let freeChannels: [(referrer: String?, source: String?, medium: String?, weight: Double)] = [
        ("https://yandex.ru/search/?text=курсы+python", nil, nil, 0.18),
        ("https://www.google.com/", nil, nil, 0.07),
        ("https://vk.com/school", nil, nil, 0.05),
        ("https://vc.ru/u/1-school/200-kak-ya-uchil-python", nil, nil, 0.04),
        (nil, "newsletter", "email", 0.05),
        (nil, nil, nil, 0.10),
    ]

    // MARK: - generation

    public init(_ spec: Spec) {
        self.spec = spec
        var random = SplitMix64(seed: spec.seed)
        let start = Timestamp.parse(spec.start + "T00:00:00+03:00")!
        let startMicros = Timestamp.micros(start)
        let span = Int64(spec.days) * 86_400 * 1_000_000
        let minute: Int64 = 60 * 1_000_000
        let hour = 60 * minute
        let day = 24 * hour
        // A webinar in the middle of the period: 10 % of the people come to it (their moment of
        // interest is its day) and sign up there, so visits, leads and revenue spike on that day.
        let spikeDay = Int64(spec.days / 2)
        func instant() -> Int64 {
            if random.unit() < 0.1 { return startMicros + spikeDay * day + Int64(random.unit() * Double(day)) }
            return startMicros + Int64(random.unit() * Double(span))
        }
        let channelWeights = Self.paidChannels.map(\.weight) + Self.freeChannels.map(\.weight)
        var visits: [TrackedVisit] = []
        var leads: [Lead] = []
        var deals: [Deal] = []
        var amoID = 30_000_000
        var bitrixID = 1000
        let reader = EventReader(siteDomains: ["school.example"])

        func hex(_ count: Int) -> String {
            var text = ""
            while text.count < count { text += String(random.next(), radix: 16) }
            return String(text.prefix(count))
        }
        func visitBody(client: String?, at micros: Int64, channel: Int, landing: String) -> [String: JSONValue] {
            var query: [String] = []
            var body: [String: JSONValue] = ["visit_id": .string("v-" + hex(16)), "occurred_at": .string(Self.format(micros))]
            if let client { body["client_id"] = .string(client) }
            if channel < Self.paidChannels.count {
                let paid = Self.paidChannels[channel]
                let campaign = paid.campaigns[random.below(paid.campaigns.count)]
                // The ad's tag as its network's link settings write it (definition 2): the ad id,
                // for Google Ads the ad group id.
                let ad = Self.ads(of: paid.source, campaign: campaign)[random.below(Self.adsPerCampaign)]
                query += ["utm_source=\(paid.source)", "utm_medium=\(paid.medium)", "utm_campaign=\(campaign)", "utm_content=\(ad.content)"]
                if paid.source == "yandex" { query.append("utm_term=" + Self.keywords[random.below(Self.keywords.count)].text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!) }
                if let click = paid.click { query.append("\(click)=\(hex(12))") }
            } else {
                let free = Self.freeChannels[channel - Self.paidChannels.count]
                if let referrer = free.referrer { body["referrer"] = .string(referrer) }
                if let source = free.source { query += ["utm_source=\(source)", "utm_medium=\(free.medium!)", "utm_campaign=march_digest"] }
            }
            body["landing_url"] = .string("https://school.example/" + landing + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
            body["user_agent"] = .string("Mozilla/5.0 (world)")
            return body
        }

        func makeDeal(person: Int, created: Int64, lead: String?, rule: String?, request: String?, visit: String?, phone: String, email: String?,
                      product: Int, forceWon: Bool) -> Deal {
            // CRMs keep whole seconds.
            let created = created - created % 1_000_000
            let amo = random.unit() < 0.7
            let id: String
            if amo { amoID += 1; id = String(amoID) } else { bitrixID += 1; id = String(bitrixID) }
            let draw = random.unit()
            let status = forceWon || draw < 0.45 ? "won" : draw < 0.75 ? "lost" : "open"
            let price = Self.products[product].price
            let closed: Int64? = status == "open" ? nil : created + Int64(1 + random.below(14)) * day
            var payments: [Payment] = []
            if status == "won", let closed {
                let plan = random.unit()
                if plan < 0.6 {
                    payments = [Payment(at: closed, amount: price, paid: true)]
                } else if plan < 0.9 {
                    // Three monthly instalments; the last may not have come yet.
                    let part = price / 3
                    payments = (0..<3).map { Payment(at: closed + Int64($0) * 30 * day, amount: $0 == 2 ? price - 2 * part : part, paid: $0 < 2 || random.unit() < 0.5) }
                } else {
                    // Paid, then refunded (in full or in half).
                    let refund = random.unit() < 0.5 ? price : price / 2
                    payments = [Payment(at: closed, amount: price, paid: true), Payment(at: closed + 7 * day, amount: -refund, paid: true)]
                }
            }
            let contact = Contact(id: amo ? String(50_000_000 + person) : String(7000 + person), name: "Человек \(person)",
                                  phones: [Self.phoneFormats(phone)[random.below(4)]], emails: email.map { [$0] } ?? [])
            return Deal(crm: amo ? .amocrm : .bitrix24, connection: amo ? "amo" : "b24", id: id, person: person, createdAt: created, closedAt: closed,
                        status: status, pipeline: amo ? (product == 0 ? "3001" : "3002") : "0", product: Self.products[product].name, amount: price,
                        contact: contact, requestID: request, visitID: visit, payments: payments, truth: lead.map { ($0, rule!) })
        }

        let offlineChance = spec.offlineDealsPer100 / 100 * spec.leadShare * spec.dealShare * 1.2 / max(1 - spec.leadShare, 0.01)
        for person in 0..<spec.people {
            // Devices (client ids) and visits.
            let devices = (0..<(1 + (random.unit() < 0.3 ? 1 : 0) + (random.unit() < 0.1 ? 1 : 0))).map { _ in "cid-" + hex(12) }
            let count = max(1, Int(-log(1 - random.unit()) * spec.visitsPerPerson))
            let product = random.below(Self.products.count)
            let page = ["python", "design", "english"][product]
            var own: [(id: String, client: String, at: Int64)] = []
            // A person's visits cluster around their own moment of interest: the first one at it,
            // the others within ten days either side (redrawn inside the period, so its first and
            // last days do not collect everyone whose interest began earlier or ended later).
            let focus = instant()
            let webinar = (focus - startMicros) / day == spikeDay
            for index in 0..<count {
                var at = focus
                if index > 0 {
                    at = focus + Int64((random.unit() - 0.5) * Double(20 * day))
                    if at < startMicros || at >= startMicros + span {
                        let low = max(startMicros, focus - 10 * day)
                        at = low + Int64(random.unit() * Double(min(startMicros + span, focus + 10 * day) - low))
                    }
                }
                let client = devices[random.below(devices.count)]
                let body = visitBody(client: client, at: at, channel: random.weighted(channelWeights), landing: page)
                let visit = try! reader.visit(.object(body), receivedAt: Date(timeIntervalSince1970: Double(at) / 1e6 + 0.2), newID: { "unused" })
                visits.append(visit)
                own.append((visit.visitID, client, at))
            }
            own.sort { $0.at < $1.at }
            let phone = "+79" + String(format: "%09d", person)
            let email = "person\(person)@mail.example"
            // Leads: an original on one of the person's visits, maybe a second one days later.
            // The webinar is a lead magnet: most who come to it register.
            guard random.unit() < (webinar ? max(spec.leadShare, 0.8) : spec.leadShare) else {
                // Someone the site never sent a lead for who bought offline.
                if random.unit() < offlineChance {
                            let created = instant()
                    deals.append(makeDeal(person: person, created: created, lead: nil, rule: nil, request: nil, visit: nil, phone: phone, email: nil,
                                          product: product, forceWon: true))
                }
                continue
            }
            var originals: [Lead] = []
            // Who came to the webinar signed up on its day; others on any of their visits.
            let firstVisit = webinar ? own.first { $0.at == focus }! : own[random.below(own.count)]
            var moments = [firstVisit]
            if random.unit() < spec.secondLeadShare, let later = own.first(where: { $0.at > firstVisit.at + day + 2 * hour }) { moments.append(later) }
            for (index, moment) in moments.enumerated() {
                let at = moment.at + Int64(1 + random.below(20)) * minute
                let kinds = ["form", "form", "form", "call", "chat", "email"]
                let kind = index == 0 ? "form" : kinds[random.below(kinds.count)]
                let typed = Self.phoneFormats(phone)[random.below(4)]
                var body: [String: JSONValue] = ["request_id": .string("req-" + hex(14)), "occurred_at": .string(Self.format(at)), "kind": .string(kind),
                                                 "product": .string(Self.products[product].name)]
                var postedPhone: String?
                switch kind {
                case "call": body["phone"] = .string(typed); postedPhone = typed; body["client_id"] = .string(moment.client)
                case "chat": body["email"] = .string(email.uppercased()); body["visit_id"] = .string(moment.id); body["client_id"] = .string(moment.client)
                case "email": body["email"] = .string(" " + email)
                default:
                    body["visit_id"] = .string(moment.id)
                    body["phone"] = .string(typed); postedPhone = typed
                    if index == 0 || random.unit() < 0.5 { body["email"] = .string(email) }
                    if random.unit() < 0.7 { body["client_id"] = .string(moment.client) }
                    body["name"] = .string("Человек \(person)")
                    body["page"] = .string("https://school.example/" + page)
                }
                let tracked = try! reader.lead(.object(body), receivedAt: Date(timeIntervalSince1970: Double(at) / 1e6 + 0.3))
                let lead = Lead(tracked: tracked, postedPhone: postedPhone, person: person, duplicateOf: nil)
                originals.append(lead)
                leads.append(lead)
                // A resubmission within three hours, same contact (and visit when it had one).
                if random.unit() < spec.duplicateShare {
                    var again = tracked
                    again.requestID = "req-" + hex(14)
                    let later = at + Int64(5 + random.below(175)) * minute
                    again.occurredAt = Self.format(later)
                    again.receivedAt = Self.format(later)
                    leads.append(Lead(tracked: again, postedPhone: postedPhone, person: person, duplicateOf: tracked.requestID))
                }
            }
            // Deals on the originals.
            var lastCreated: Int64?
            for (index, lead) in originals.enumerated() where random.unit() < spec.dealShare {
                let at = Timestamp.micros(Timestamp.parse(lead.tracked.occurredAt)!)
                let next = index + 1 < originals.count ? Timestamp.micros(Timestamp.parse(originals[index + 1].tracked.occurredAt)!) : Int64.max
                let draw = random.unit()
                let created: Int64
                var rule: String
                var request: String?
                var visit: String?
                if draw < 0.3 {
                    rule = "request_id"
                    // Sometimes the CRM got the duplicate's request id: it still lands on the original.
                    let dup = leads.last { $0.duplicateOf == lead.tracked.requestID }
                    request = (dup != nil && random.unit() < 0.3) ? dup!.tracked.requestID : lead.tracked.requestID
                    created = at + Int64(10 + random.below(600)) * minute
                } else if draw < 0.5, let visitID = lead.tracked.visitID {
                    rule = "visit_id"
                    visit = visitID
                    created = at + Int64(5 + random.below(600)) * minute
                } else if draw < 0.75 {
                    rule = "contact_near"
                    created = at + Int64(random.below(100) - 50) * minute
                } else {
                    rule = "contact_earlier"
                    created = min(at + 2 * hour + Int64(random.unit() * Double(10 * day)), next - 2 * hour)
                }
                if created >= next - hour && rule.hasPrefix("contact") { continue }
                deals.append(makeDeal(person: person, created: created, lead: lead.tracked.requestID, rule: rule, request: request, visit: visit,
                                      phone: phone, email: email, product: product, forceWon: false))
                lastCreated = created
            }
            // A repeat purchase weeks later, found by contact: the latest original before it.
            if let first = lastCreated, random.unit() < spec.repeatShare {
                let created = first + Int64(20 + random.below(40)) * day
                let before = originals.filter { Timestamp.micros(Timestamp.parse($0.tracked.occurredAt)!) <= created }
                let near = originals.contains { abs(Timestamp.micros(Timestamp.parse($0.tracked.occurredAt)!) - created) <= hour }
                if let latest = before.last, !near {
                    deals.append(makeDeal(person: person, created: created, lead: latest.tracked.requestID, rule: "contact_earlier", request: nil,
                                          visit: nil, phone: phone, email: email, product: (product + 1) % Self.products.count, forceWon: true))
                }
            }
        }

        self.startMicros = startMicros
        self.visits = visits
        self.leads = leads
        self.deals = deals
        spend = Self.spendRows(spec: spec, visits: visits)
    }

    /// The formats people and managers type one number in.
    static func phoneFormats(_ e164: String) -> [String] {
        let d = Array(e164.dropFirst(2))
        func s(_ range: Range<Int>) -> String { String(d[range]) }
        return [e164, "8 (\(s(0..<3))) \(s(3..<6))-\(s(6..<8))-\(s(8..<10))", "+7 \(s(0..<3)) \(s(3..<6)) \(s(6..<8)) \(s(8..<10))", "7" + String(d)]
    }

    /// RFC 3339 with the Moscow offset, to the microsecond (the site's clock).
    static func format(_ micros: Int64) -> String {
        let utc = Timestamp.format(Date(timeIntervalSince1970: Double(micros) / 1e6 + 3 * 3600))
        return String(utc.dropLast()) + "+03:00"
    }

    // MARK: - ground truth

    /// Duplicate → the original it resubmits (definition 6).
    public var duplicateTruth: [String: String] {
        Dictionary(uniqueKeysWithValues: leads.compactMap { lead in lead.duplicateOf.map { (lead.tracked.requestID, $0) } })
    }

    /// `connection/deal` → (lead, rule), or nil for a deal that links to no lead.
    public var dealTruth: [String: (lead: String, rule: String)?] {
        Dictionary(uniqueKeysWithValues: deals.map { ("\($0.connection)/\($0.id)", $0.truth) })
    }

    /// Customers: the people with a lead or a deal, each as the set of their leads and deals
    /// (`l:<request>` / `d:<connection>/<deal>`).
    public var customerTruth: Set<Set<String>> {
        var byPerson: [Int: Set<String>] = [:]
        for lead in leads { byPerson[lead.person, default: []].insert("l:" + lead.tracked.requestID) }
        for deal in deals { byPerson[deal.person, default: []].insert("d:\(deal.connection)/\(deal.id)") }
        return Set(byPerson.values)
    }
}

/// A small, fast, seedable generator (SplitMix64): the same seed, the same world everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// In [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// In [0, n).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// An index drawn with these weights.
    public mutating func weighted(_ weights: [Double]) -> Int {
        var point = unit() * weights.reduce(0, +)
        for (index, weight) in weights.enumerated() {
            point -= weight
            if point < 0 { return index }
        }
        return weights.count - 1
    }
}
