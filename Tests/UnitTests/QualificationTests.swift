import Attribution
import Testing

@Suite struct QualificationTests {
    typealias S = Qualification.Stage
    // amoCRM-like: unsorted (excluded), three open stages, won 142 and lost 143 at the end.
    static let sales = [S(id: "unsorted", sort: 0, status: "excluded"), S(id: "new", sort: 10, status: "open"),
                        S(id: "call", sort: 20, status: "open"), S(id: "invoice", sort: 30, status: "open"),
                        S(id: "142", sort: 10000, status: "won"), S(id: "143", sort: 11000, status: "lost")]
    // Listed out of order on purpose; one open stage only.
    static let repeats = [S(id: "143", sort: 11000, status: "lost"), S(id: "142", sort: 10000, status: "won"), S(id: "only", sort: 5, status: "open")]

    @Test func theSecondNonExcludedStageQualifiesByDefaultAndHistoryCounts() {
        let q = Qualification(stages: ["sales": Self.sales, "repeat": Self.repeats])
        #expect(!q.qualifies(status: "open", visited: [("sales", "new")]))
        #expect(!q.qualifies(status: "excluded", visited: [("sales", "unsorted")]))
        #expect(q.qualifies(status: "open", visited: [("sales", "call")]))
        #expect(q.qualifies(status: "open", visited: [("sales", "invoice")]))
        // Moved back to the first stage, or lost, after reaching the second: still qualified.
        #expect(q.qualifies(status: "open", visited: [("sales", "new"), ("sales", "call"), ("sales", "new")]))
        #expect(q.qualifies(status: "lost", visited: [("sales", "143"), ("sales", "call")]))
        // Lost straight from the first stage: the lost stage's position says nothing.
        #expect(!q.qualifies(status: "lost", visited: [("sales", "new"), ("sales", "143")]))
        // Won always qualifies, by status or by a won stage in the history.
        #expect(q.qualifies(status: "won", visited: [("sales", "new")]))
        #expect(q.qualifies(status: "open", visited: [("sales", "142"), ("sales", "new")]))
        // One open stage: the second non-excluded stage is the won one — only a sale qualifies.
        #expect(!q.qualifies(status: "open", visited: [("repeat", "only")]))
        #expect(q.qualifies(status: "won", visited: [("repeat", "142")]))
        // A pipeline that lists a single non-excluded stage has no qualifying stage by position.
        let single = Qualification(stages: ["p": [S(id: "only", sort: 1, status: "open")]])
        #expect(!single.qualifies(status: "open", visited: [("p", "only")]))
        // Unknown pipelines and stages count for nothing.
        #expect(!q.qualifies(status: "open", visited: [("gone", "call"), ("sales", "ghost")]))
        #expect(!q.qualifies(status: "unknown", visited: []))
    }

    @Test func aConnectionMayNameTheQualifyingStagePerPipeline() {
        let q = Qualification(stages: ["sales": Self.sales, "repeat": Self.repeats], qualifying: ["sales": "invoice", "repeat": "missing"])
        #expect(!q.qualifies(status: "open", visited: [("sales", "call")]))
        #expect(q.qualifies(status: "open", visited: [("sales", "invoice")]))
        // A stage the pipeline does not list: the default applies.
        #expect(!q.qualifies(status: "open", visited: [("repeat", "only")]))
        // The first stage named: every open stage qualifies.
        let early = Qualification(stages: ["sales": Self.sales], qualifying: ["sales": "new"])
        #expect(early.qualifies(status: "open", visited: [("sales", "new")]))
        #expect(!early.qualifies(status: "excluded", visited: [("sales", "unsorted")]))
    }
}
