#!/usr/bin/env python3
"""docs/benchmarks.md from the output of scripts/bench.sh (issue 8, point 5).

Usage: bench-report.py OUTPUT.txt BENCHMARKS.md [full|quick]

Every figure comes from a line a benchmark printed in that one run; nothing is typed by hand.
Throughputs and durations are shown with their baseline and the ratio, latencies as p50/p95
and memory as peak RSS, each with the issue's goal where it has one.
"""
import re
import statistics
import sys

source, target = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "full"
text = open(source, encoding="utf-8").read()

header, *parts = re.split(r"^## ", text, flags=re.M)
sections = {}
for part in parts:
    name, _, body = part.partition("\n")
    sections[name.strip()] = body


def runs(prefix):
    return [body for name, body in sections.items() if name == prefix or name.startswith(prefix + " run")]


def find(pattern, body, cast=float):
    match = re.search(pattern, body, flags=re.M)
    return tuple(cast(group) if cast else group for group in match.groups()) if match else None


def fmt(value, places=0):
    return f"{value:,.{places}f}" if value is not None else "—"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


rows = []  # (issue, figure, measured, baseline, ratio, goal, verdict)
notes = []


def verdict(ok):
    return "—" if ok is None else ("met" if ok else "**not met**")


def failed(body):
    return "FAILED with status" in body


# Issue 2: the C doors.
for body in runs("foundation"):
    for label, key, goal in [("COPY rows/s via PGConnection.copyIn vs psql \\copy", "COPY", 50),
                             ("publish with confirms msg/s vs raw rabbitmq-c", "publish", 80),
                             ("consume with acks msg/s vs raw rabbitmq-c", "consume", 80)]:
        found = find(rf"^{key} .*?: ([\d.]+) \S+/s \(median of \d+\) vs .*? ([\d.]+) \S+/s -> ([\d.]+) %", body)
        if found:
            rows.append(("2", label, fmt(found[0]), fmt(found[1]), f"{found[2]:.0f} %", f"≥ {goal} %", verdict(found[2] >= goal)))

# Issue 5: the tracker.
durable, baseline, ratios, lost = [], [], [], []
for body in runs("tracker-256"):
    d = find(r"^durable .*?: ([\d.]+) visits/s, p50 (\S+), p99 (\S+), (\d+) non-2xx(?:, tracker CPU ([\d.]+) µs a visit)? -> ([\d.]+) %", body, cast=None)
    b = find(r"^baseline .*?: ([\d.]+) visits/s(?:.*?tracker CPU ([\d.]+) µs a visit)?", body, cast=None)
    if d:
        durable.append(float(d[0]))
        ratios.append(float(d[5]))
        notes.append(f"tracker run: durable {fmt(float(d[0]))} visits/s (p50 {d[1]}, p99 {d[2]}, {d[3]} non-2xx"
                     + (f", tracker CPU {d[4]} µs a visit" if d[4] else "") + ")"
                     + (f", baseline {fmt(float(b[0]))} visits/s" + (f" ({b[1]} µs a visit)" if b[1] else "") if b else ""))
    if b:
        baseline.append(float(b[0]))
    lost.append("none lost" in body)
if durable:
    m = median(durable)
    rows.append(("5", f"tracker durable visits/s with wrk, 256 connections (median of {len(durable)} runs: "
                      + ", ".join(fmt(v) for v in durable) + ")",
                 fmt(m), fmt(median(baseline)) + " (no publishing)", f"{median(ratios):.0f} %", "≥ 20,000/s", verdict(m >= 20000)))
    rows.append(("5", "visits answered 201 and found in the broker", "all" if all(lost) else "**some lost**", "", "", "none lost",
                 verdict(all(lost))))

# Issue 5: identity resolution.
times, rss = [], []
for body in runs("identity"):
    t = find(r"resolved in ([\d.]+) s", body)
    r = find(r"identity-resolver peak RSS ([\d.]+) MiB", body)
    if t:
        times.append(t[0])
    if r:
        rss.append(r[0])
    world = find(r"^world: (.*)$", body, cast=None)
    if world and not any(n.startswith("identity world") for n in notes):
        notes.append("identity world: " + world[0])
if times:
    sizes = find(r"^world: (\d+) visits, (\d+) leads \((\d+) duplicates\), (\d+) deals", runs("identity")[0], cast=int)
    size = (f"{sizes[0]:,} visits + {sizes[1]:,} leads ({sizes[2]:,} of them duplicates) + {sizes[3]:,} deals" if sizes
            else "the world")
    rows.append(("5", f"identity resolution of {size}, first message published → last link committed (median of {len(times)}: "
                      + ", ".join(f"{t:.1f}" for t in times) + " s)",
                 f"{median(times):.1f} s", "", "", "≤ 30 s (1M visits, 100k leads, 20k deals)",
                 verdict(median(times) <= 30 if mode == "full" and sizes and sizes[0] >= 1_000_000 * 0.95 else None)))
    rows.append(("5", "identity-resolver peak RSS (largest of the runs)", f"{max(rss):,.0f} MiB" if rss else "—", "", "",
                 "≤ 1.5 GiB", verdict(max(rss) <= 1536 if rss else None)))

# Issue 6: the aggregator.
for body in runs("aggregator-rebuild"):
    a = find(r"aggregator full rebuild: .*\(median ([\d.]+) s\)", body)
    p = find(r"plain SQL, same report: .*\(median ([\d.]+) s\)", body)
    r = find(r"ratio \(plain SQL / aggregator, medians\): ([\d.]+)", body)
    agree = "totals per model agree: yes" in body
    if a and p and r:
        rows.append(("6", "full rebuild, all 7 models (aggregator vs competent plain SQL, same PostgreSQL)", f"{a[0]:.2f} s",
                     f"{p[0]:.2f} s", f"{r[0]:.1f}× faster", "≥ 10×", verdict(r[0] >= 10)))
        rows.append(("6", "totals per model equal between the two", "yes" if agree else "**no**", "", "", "equal", verdict(agree)))
for body in runs("aggregator-latency"):
    l = find(r"latency p50 ([\d.]+) ms, p95 ([\d.]+) ms, max ([\d.]+) ms", body)
    if l:
        rows.append(("6", "deal status change published → mart.channel_report shows it", f"p50 {l[0]:.0f} ms, p95 {l[1]:.0f} ms",
                     "", "", "p95 ≤ 2 s", verdict(l[1] <= 2000)))

for body in runs("aggregator-partition"):
    for line in body.splitlines():
        m = re.match(r"(heaviest|median) day (\S+) \((\d+) leads\), (in full|deal-only): median (\d+) ms of (\d+)", line)
        if m:
            rows.append(("6", f"one day recomputed {m.group(4)}: the {m.group(1)} day ({int(m.group(3)):,} leads; median of {m.group(6)})",
                         f"{m.group(5)} ms", "", "", "", "—"))

# Issue 4: deal-sync.
for body in runs("dealsync"):
    for crm in ["amoCRM", "Bitrix24"]:
        d = find(rf"^{crm} full sync of (\d+) deals, limits off: ([\d.]+) s = ([\d.]+) deals/s; reading the same pages without writing: ([\d.]+) deals/s -> ([\d.]+) %", body)
        if d:
            rows.append(("4", f"{crm} full sync of {fmt(d[0])} deals (deals/s vs reading the same pages)", fmt(d[2]), fmt(d[3]),
                         f"{d[4]:.0f} %", "", "—"))
    w = find(r"webhook -> row updated, (\d+) webhooks .*?: p50 ([\d.]+) ms, p95 ([\d.]+) ms, max ([\d.]+) ms", body)
    if w:
        rows.append(("4", f"CRM webhook → deal row updated ({w[0]:.0f} webhooks)", f"p50 {w[1]:.1f} ms, p95 {w[2]:.1f} ms", "", "", "", "—"))

# Issue 3: collection.
for body in runs("collection"):
    c = find(r"^Direct TSV parse \+ write of (\d+) rows: ([\d.]+) rows/s \(median of 3\) vs raw COPY of the parsed rows ([\d.]+) rows/s -> ([\d.]+) %", body)
    if c:
        rows.append(("3", f"Direct TSV parse + write of {fmt(c[0])} rows (rows/s vs raw COPY of the parsed rows)", fmt(c[1]), fmt(c[2]),
                     f"{c[3]:.0f} %", "", "—"))
    for match in re.finditer(r"^(Direct|Google Ads|Meta|VK Ads) backfill of (\d+) days × (\d+) campaigns × (\d+) ads \((\d+) rows\) from the fake, limits off: ([\d.]+) s wall", body, flags=re.M):
        rows.append(("3", f"{match.group(1)} backfill, {match.group(2)} days × {match.group(3)} campaigns × {match.group(4)} ads "
                          f"({int(match.group(5)):,} rows)", f"{float(match.group(6)):.1f} s", "", "", "", "—"))

# Issue 8: the system test under faults.
for body in runs("system-test"):
    faults = find(r"^Faults while the data flowed: (.*)$", body, cast=None)
    exact = "every model's totals equal the truth, to the kopeck" in body and "equal the truth" in body and "DIFFERENCES" not in body
    settle = find(r"current ([\d.]+) s after the last post; ([\d.]+) s from the start", body)
    leaks = "no secret's value in any log line" in body
    world = find(r"^   (\d+) people, (\d+) visits, (\d+) leads", body, cast=None)
    if faults:
        notes.append("system test faults: " + faults[0])
    size = f"{int(world[0]):,} people, {int(world[1]):,} visits, {int(world[2]):,} leads" if world else "the sandbox month"
    rows.append(("8", f"system test under faults ({size}): mart vs ground truth per model, day and deal", "exact" if exact else "**differs**",
                 "", "", "0 lost, 0 twice", verdict(exact and not failed(body))))
    rows.append(("8", "secrets in any log line of the full run", "none" if leaks else "**found**", "", "", "none", verdict(leaks)))
    if settle:
        rows.append(("8", "mart current after the last event (under faults)", f"{settle[0]:.1f} s", "", "", "", "—"))

# Wall time and peak RSS of every step.
steps = []
for name, body in sections.items():
    wall = find(r"^wall: (\S+)$", body, cast=None)
    peak = find(r"^peak RSS of the command's process tree's largest process: (.*)$", body, cast=None)
    command = find(r"^\$ (.*)$", body, cast=None)
    steps.append((name, command[0] if command else "", wall[0] if wall else "—", peak[0] if peak else "—",
                  "FAILED" if failed(body) else "ok"))

machine = "\n".join(line for line in header.splitlines() if line and not line.startswith("#"))
title = header.splitlines()[0].lstrip("# ") if header else ""

out = []
out.append("# Benchmarks\n")
out.append("Generated by `scripts/bench.sh` from one run's output, committed beside it as "
           "[`docs/benchmarks-output.txt`](benchmarks-output.txt) — do not edit by hand; run the script again. "
           "The designs behind the figures, the experiments and what was tried are in "
           "[`docs/benchmark-notes.md`](benchmark-notes.md).\n")
out.append(f"{title}.\n")
out.append("```\n" + machine + "\n```\n")
out.append("The machine is shared and noisy (±25 % between runs), so throughputs and durations are given next to a baseline "
           "measured in the same run (the ratio is what to compare across machines); latencies as p50/p95 and memory as peak "
           "RSS are absolute, for this machine. Release builds; PostgreSQL and RabbitMQ on the same host (loopback).\n")
out.append("## Figures\n")
out.append("| issue | figure | measured | baseline | ratio | goal | |")
out.append("|---|---|---|---|---|---|---|")
for row in rows:
    out.append("| " + " | ".join(row) + " |")
out.append("")
if notes:
    out.append("## Details\n")
    out.extend(f"- {note}" for note in notes)
    out.append("")
out.append("## Every step\n")
out.append("| step | command | wall | peak RSS | |")
out.append("|---|---|---|---|---|")
for step in steps:
    out.append("| " + " | ".join([step[0], f"`{step[1]}`", step[2], step[3], step[4]]) + " |")
out.append("")
out.append("Peak RSS here is `/usr/bin/time`'s: the largest single process of the step's tree (for identity-bench that is the "
           "bench itself, which holds the world; the resolver's own peak is the figure in the table above).\n")
open(target, "w", encoding="utf-8").write("\n".join(out))
