/// Qualified leads (domain.md definition 17): a lead is qualified when one of its deals is, or has
/// ever been, at or past its pipeline's qualifying stage in pipeline order, or won. The default
/// qualifying stage is the second non-excluded stage of the pipeline; a CRM connection may name
/// one per pipeline (option `qualifying_stage.<pipeline>`).
public struct Qualification: Sendable {
    /// A stage as the analytics sees it: its CRM order and its mapped status.
    public struct Stage: Sendable, Equatable {
        public var id: String
        public var sort: Int
        /// open / won / lost / excluded (definition 9, after the project's mapping).
        public var status: String

        public init(id: String, sort: Int, status: String) {
            self.id = id
            self.sort = sort
            self.status = status
        }
    }

    /// Per pipeline: each open stage's rank in pipeline order, and the rank from which an open
    /// stage qualifies (nil: only a won stage does).
    struct Pipeline: Sendable {
        var openRank: [String: Int] = [:]
        var qualifyingRank: Int?
        var won: Set<String> = []
    }

    let pipelines: [String: Pipeline]

    /// - Parameters:
    ///   - stages: every pipeline's stages (any order).
    ///   - qualifying: the stage a connection names per pipeline; the default applies elsewhere.
    ///     A named stage the pipeline does not list is ignored (the default applies).
    public init(stages: [String: [Stage]], qualifying: [String: String] = [:]) {
        var pipelines: [String: Pipeline] = [:]
        for (pipeline, list) in stages {
            let ordered = list.filter { $0.status != "excluded" }.sorted { ($0.sort, $0.id) < ($1.sort, $1.id) }
            var entry = Pipeline()
            for (rank, stage) in ordered.enumerated() {
                if stage.status == "open" { entry.openRank[stage.id] = rank }
                if stage.status == "won" { entry.won.insert(stage.id) }
            }
            let named = qualifying[pipeline].flatMap { id in ordered.firstIndex { $0.id == id } }
            // Default: the second non-excluded stage; a pipeline with fewer has none by position.
            let rank = named ?? (ordered.count >= 2 ? 1 : -1)
            // A won or lost qualifying stage: open stages never reach it by position.
            if rank >= 0, ordered.indices.contains(rank), ordered[rank].status == "open" { entry.qualifyingRank = rank }
            pipelines[pipeline] = entry
        }
        self.pipelines = pipelines
    }

    /// Whether a deal that is now `status` and has been in these (pipeline, stage) pairs (its
    /// current stage and its stage history) qualifies its lead. Being in a lost stage says
    /// nothing about how far the deal got; a stage the pipelines do not list counts for nothing.
    public func qualifies(status: String, visited: [(pipeline: String, stage: String)]) -> Bool {
        if status == "won" { return true }
        for (pipeline, stage) in visited {
            guard let entry = pipelines[pipeline] else { continue }
            if entry.won.contains(stage) { return true }
            if let rank = entry.openRank[stage], let threshold = entry.qualifyingRank, rank >= threshold { return true }
        }
        return false
    }
}
