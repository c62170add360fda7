import Domain
import Foundation
import Logging
import Postgres
import Runtime
import Settings

/// The aggregator's consumer: turns a batch of `attribution.dirty` and `spend.updated` messages
/// into one set of (project, day) partitions per project — a burst of messages about the same
/// days costs one recomputation — and rebuilds them in the batch's transaction, so the batch is
/// acknowledged only after its partitions committed. Recomputing a partition twice gives the
/// same rows: redelivery and replicas are harmless.
public struct AggregatorHandler: BatchHandler {
    let builders: [String: ReportBuilder]

    /// - Throws: `AggregationError` naming a project's unreadable CRM options.
    public init(projects: [Project]) throws {
        var builders: [String: ReportBuilder] = [:]
        for project in projects where builders[project.id] == nil { builders[project.id] = try ReportBuilder(project: project) }
        self.builders = builders
    }

    /// A project's partitions in one batch: every day to recompute, and those of them that only
    /// deals changed (every message naming the day said so), which can be recomputed from the
    /// stored credits and visits (`ReportBuilder.rebuild(days:dealsOnly:)`).
    public struct Partitions: Sendable, Equatable {
        public var days: Set<LocalDay> = []
        public var dealsOnly: Set<LocalDay> = []

        public init(days: Set<LocalDay> = [], dealsOnly: Set<LocalDay> = []) {
            self.days = days
            self.dealsOnly = dealsOnly
        }
    }

    /// The partitions a batch touches, per project.
    public static func partitions(of messages: [Envelope]) throws -> [String: Partitions] {
        var days: [String: Set<LocalDay>] = [:]
        var journeyDays: [String: Set<LocalDay>] = [:]
        func dates(_ texts: [String], _ field: String) throws -> Set<LocalDay> {
            Set(try texts.map { text in
                guard let day = LocalDay(iso: text) else { throw EnvelopeError("\(field): '\(text)' is not a date (YYYY-MM-DD)") }
                return day
            })
        }
        for envelope in messages {
            switch envelope.type {
            case ClusterTopology.attributionDirty:
                struct Dirty: Decodable {
                    let days: [String]
                    let dealDays: [String]?
                    enum CodingKeys: String, CodingKey { case days, dealDays = "deal_days" }
                }
                let dirty = try envelope.payload(as: Dirty.self)
                let all = try dates(dirty.days, "days")
                let dealDays = try dates(dirty.dealDays ?? [], "deal_days")
                guard dealDays.isSubset(of: all) else { throw EnvelopeError("deal_days: every day must be one of days") }
                days[envelope.project, default: []].formUnion(all)
                journeyDays[envelope.project, default: []].formUnion(all.subtracting(dealDays))
            case ClusterTopology.spendUpdated:
                struct Spend: Decodable { let from: String; let to: String }
                let spend = try envelope.payload(as: Spend.self)
                guard let from = LocalDay(iso: spend.from), let to = LocalDay(iso: spend.to), let range = DayRange(from, to) else {
                    throw EnvelopeError("from/to: '\(spend.from)'..'\(spend.to)' is not a range of dates")
                }
                guard range.count <= 3660 else { throw EnvelopeError("from/to: \(range) spans more than ten years") }
                days[envelope.project, default: []].formUnion(range.days)
                journeyDays[envelope.project, default: []].formUnion(range.days)
            default:
                throw EnvelopeError("the aggregator does not take \(envelope.type) messages")
            }
        }
        return days.reduce(into: [:]) { result, entry in
            result[entry.key] = Partitions(days: entry.value, dealsOnly: entry.value.subtracting(journeyDays[entry.key] ?? []))
        }
    }

    public func handle(_ messages: [Envelope], on connection: PGConnection, logger: Logger) async throws {
        let partitions = try Self.partitions(of: messages)
        for project in partitions.keys where builders[project] == nil {
            throw EnvelopeError("project '\(project)' is not in the aggregator's configuration")
        }
        // Projects in a fixed order: batches spanning projects take their locks in one order.
        for project in partitions.keys.sorted() {
            let days = partitions[project]!
            let started = ContinuousClock.now
            let summary = try await builders[project]!.rebuild(days: days.days, dealsOnly: days.dealsOnly, on: connection)
            logger.debug("partitions rebuilt", metadata: [
                "project": "\(project)", "days": "\(days.days.count)", "deal-only days": "\(days.dealsOnly.count)", "leads": "\(summary.leads)", "deals": "\(summary.deals)",
                "cells": "\(summary.cells)", "duration": "\(ContinuousClock.now - started)",
                "phases": "\(summary.phases.map(\.description).joined(separator: ", "))",
            ])
        }
    }
}
