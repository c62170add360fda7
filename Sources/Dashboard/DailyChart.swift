import Domain
import Foundation
import Reporting

/// A day-by-day SVG chart, rendered on the server (no script, no external resource): one series
/// as bars and optionally one as a line over them, on one axis, with weekends shaded, a tooltip
/// per day and the peak of the headline series marked — so a spike (a webinar, a sale) is seen at
/// a glance.
///
/// Every bar and point carries `data-day` and `data-value` (the exact figure) so that tests and
/// scrapers read the chart as data, not as pixels.
struct DailyChart {
    struct Series {
        enum Kind { case bars, line }
        /// CSS class and the legend's key: `spend`, `revenue`, `leads`.
        var key: String
        var title: String
        var kind: Kind
        var values: [Decimal]
        /// A value as its tooltip and the peak label show it.
        var format: (Decimal) -> String
    }

    var id: String
    var title: String
    var days: [LocalDay]
    var series: [Series]
    /// The series whose highest day is marked (the line if any, else the bars).
    var peakKey: String
    /// The axis's unit ("₽"), or "" for counts.
    var unit: String

    /// The drawing's height (its width is fixed: the page scales it).
    var height = 300.0

    static let width = 960.0
    static let left = 70.0
    static let right = 14.0
    static let top = 34.0
    static let bottom = 30.0

    /// The smallest "nice" axis maximum (1, 2, 2.5 or 5 × 10ⁿ per step, four steps) at or above
    /// `value`, and its step.
    static func axis(_ value: Double) -> (maximum: Double, step: Double) {
        guard value > 0 else { return (1, 0.25) }
        let rough = value / 4
        let power = pow(10, floor(log10(rough)))
        for factor in [1.0, 2.0, 2.5, 5.0, 10.0] where factor * power >= rough {
            return (factor * power * 4, factor * power)
        }
        return (power * 40, power * 10)
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }

    func render() -> String {
        let count = max(days.count, 1)
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = height - Self.top - Self.bottom
        let slot = plotWidth / Double(count)
        let highest = series.flatMap(\.values).map { NSDecimalNumber(decimal: $0).doubleValue }.max() ?? 0
        let (maximum, step) = Self.axis(highest)
        func y(_ value: Decimal) -> Double {
            let fraction = max(0, NSDecimalNumber(decimal: value).doubleValue) / maximum
            return Self.top + plotHeight * (1 - fraction)
        }
        func x(_ index: Int) -> Double { Self.left + slot * (Double(index) + 0.5) }
        let baseline = Self.top + plotHeight

        var svg = """
            <svg id="\(id)" class="chart" viewBox="0 0 \(Int(Self.width)) \(Int(height))" role="img" \
            aria-labelledby="\(id)-title" preserveAspectRatio="xMidYMid meet" data-days="\(days.count)">
            <title id="\(id)-title">\(HTML.text(title))</title>

            """
        // Weekends, then the grid and its labels.
        for (index, day) in days.enumerated() where HTML.weekday(day) >= 5 {
            svg += "<rect class=\"weekend\" x=\"\(Self.number(Self.left + slot * Double(index)))\" y=\"\(Self.number(Self.top))\" "
                + "width=\"\(Self.number(slot))\" height=\"\(Self.number(plotHeight))\"/>\n"
        }
        var tick = 0.0
        while tick <= maximum + step / 2 {
            let ty = Self.top + plotHeight * (1 - tick / maximum)
            svg += "<line class=\"grid\" x1=\"\(Self.number(Self.left))\" x2=\"\(Self.number(Self.width - Self.right))\" "
                + "y1=\"\(Self.number(ty))\" y2=\"\(Self.number(ty))\"/>\n"
            let label = HTML.compact(tick) + (unit.isEmpty ? "" : " " + unit)
            svg += "<text class=\"axis y\" x=\"\(Self.number(Self.left - 8))\" y=\"\(Self.number(ty + 4))\">\(HTML.text(label))</text>\n"
            tick += step
        }
        let labelEvery = max(1, Int((Double(count) / 16).rounded(.up)))
        for (index, day) in days.enumerated() where index % labelEvery == 0 || day.day == 1 {
            let text = index == 0 || day.day == 1 ? HTML.shortDay(day) : String(day.day)
            svg += "<text class=\"axis x\" x=\"\(Self.number(x(index)))\" y=\"\(Self.number(baseline + 18))\">\(text)</text>\n"
        }

        // The series: bars first, lines over them.
        for item in series where item.kind == .bars {
            svg += "<g class=\"series bars \(item.key)\" data-series=\"\(item.key)\">\n"
            let barWidth = max(1, slot * 0.64)
            for (index, value) in item.values.enumerated() {
                let top = y(value)
                svg += "<rect class=\"bar\" data-day=\"\(days[index])\" data-value=\"\(value.text(places: 2))\" "
                    + "x=\"\(Self.number(x(index) - barWidth / 2))\" y=\"\(Self.number(top))\" width=\"\(Self.number(barWidth))\" "
                    + "height=\"\(Self.number(baseline - top))\"/>\n"
            }
            svg += "</g>\n"
        }
        for item in series where item.kind == .line {
            let points = item.values.enumerated().map { "\(Self.number(x($0.offset))),\(Self.number(y($0.element)))" }
            svg += "<g class=\"series line \(item.key)\" data-series=\"\(item.key)\">\n"
            svg += "<polyline points=\"\(points.joined(separator: " "))\"/>\n"
            for (index, value) in item.values.enumerated() {
                svg += "<circle class=\"point\" data-day=\"\(days[index])\" data-value=\"\(value.text(places: 2))\" "
                    + "cx=\"\(Self.number(x(index)))\" cy=\"\(Self.number(y(value)))\" r=\"3\"/>\n"
            }
            svg += "</g>\n"
        }

        // The peak of the headline series.
        if let peak = series.first(where: { $0.key == peakKey }),
           let best = peak.values.indices.max(by: { peak.values[$0] < peak.values[$1] || (peak.values[$0] == peak.values[$1] && $0 > $1) }),
           peak.values[best] > 0 {
            let px = x(best)
            let py = y(peak.values[best])
            let label = "Peak \(HTML.shortDay(days[best])): \(peak.format(peak.values[best]))"
            let anchor = px > Self.width * 0.75 ? "end" : (px < Self.width * 0.25 ? "start" : "middle")
            svg += "<g class=\"peak\" data-series=\"\(peak.key)\" data-day=\"\(days[best])\" data-value=\"\(peak.values[best].text(places: 2))\">\n"
            svg += "<line x1=\"\(Self.number(px))\" x2=\"\(Self.number(px))\" y1=\"\(Self.number(Self.top - 6))\" y2=\"\(Self.number(baseline))\"/>\n"
            svg += "<text x=\"\(Self.number(px))\" y=\"\(Self.number(Self.top - 12))\" text-anchor=\"\(anchor)\">\(HTML.text(label))</text>\n"
            svg += "<circle class=\"ring\" cx=\"\(Self.number(px))\" cy=\"\(Self.number(py))\" r=\"7\"/>\n"
            svg += "</g>\n"
        } else if highest == 0 {
            svg += "<text class=\"empty\" x=\"\(Self.number(Self.left + plotWidth / 2))\" y=\"\(Self.number(Self.top + plotHeight / 2))\">"
                + "Nothing in this period</text>\n"
        }

        // A tooltip per day: every series' figure, over the whole column.
        svg += "<g class=\"hover\">\n"
        for (index, day) in days.enumerated() {
            let lines = [HTML.day(day)] + series.map { "\($0.title): \($0.format($0.values[index]))" }
            svg += "<rect data-day=\"\(day)\" x=\"\(Self.number(Self.left + slot * Double(index)))\" y=\"\(Self.number(Self.top))\" "
                + "width=\"\(Self.number(slot))\" height=\"\(Self.number(plotHeight))\"><title>\(HTML.text(lines.joined(separator: "\n")))</title></rect>\n"
        }
        svg += "</g>\n</svg>\n"

        // The legend, outside the drawing so it reflows on narrow screens.
        var legend = "<ul class=\"legend\" aria-hidden=\"true\">"
        for item in series {
            let total = item.values.reduce(Decimal(0), +)
            legend += "<li class=\"\(item.key) \(item.kind == .bars ? "bars" : "line")\"><span class=\"swatch\"></span>\(HTML.text(item.title)) "
                + "<span class=\"sum\">\(HTML.text(item.format(total)))</span></li>"
        }
        legend += "</ul>\n"
        return svg + legend
    }
}
