/// The page's style sheet, inline (the page loads nothing from anywhere else).
enum DashboardStyle {
    static let css = """
    :root{--ink:#1d2433;--muted:#667085;--line:#e4e7ec;--card:#fff;--bg:#f5f6f8;--accent:#2f6fed;--spend:#f0a35e;--revenue:#2f6fed;\
    --leads:#7a5af8;--good:#12805c;--bad:#c4320a}
    *{box-sizing:border-box}
    body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
    a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
    header.top{display:flex;gap:24px;align-items:center;padding:10px 24px;background:#1d2433;color:#fff}
    header.top .brand{color:#fff;font-weight:700;letter-spacing:.02em}
    header.top nav.projects a{color:#cfd6e4;margin-right:14px}header.top nav.projects a[aria-current]{color:#fff;font-weight:600}
    main{max-width:1180px;margin:0 auto;padding:18px 24px 8px}
    h1{font-size:22px;margin:0}h2{font-size:15px;margin:0 0 8px}
    .sub{color:var(--muted);margin:4px 0 14px}
    .controls{display:flex;flex-wrap:wrap;gap:10px 24px;align-items:center;margin-bottom:14px}
    .tabs{display:flex;flex-wrap:wrap;gap:4px}
    .tab{padding:5px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--ink)}
    .tab[aria-current]{background:var(--accent);border-color:var(--accent);color:#fff}
    .tabs.small .tab{padding:3px 8px;font-size:13px}
    form#period{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
    form#period input{font:inherit;padding:3px 6px;border:1px solid var(--line);border-radius:6px}
    form#period button{font:inherit;padding:4px 12px;border:0;border-radius:6px;background:var(--ink);color:#fff;cursor:pointer}
    .presets a{margin-left:8px;font-size:13px}.presets a[aria-current]{font-weight:700;color:var(--ink)}
    .kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin-bottom:14px}
    @media (max-width:640px){.kpis{grid-template-columns:repeat(2,1fr)}}
    .kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
    .kpi .label{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
    .kpi .value{display:block;font-size:20px;font-weight:650;font-variant-numeric:tabular-nums;white-space:nowrap}
    .kpi.positive .value{color:var(--good)}.kpi.negative .value{color:var(--bad)}
    .card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin-bottom:14px}
    .note{color:var(--muted);font-size:12px;margin:6px 0 0}
    svg.chart{width:100%;height:auto;display:block}
    svg .weekend{fill:#f2f4f7}
    svg .grid{stroke:var(--line);stroke-width:1}
    svg .axis{fill:var(--muted);font-size:11px}svg .axis.y{text-anchor:end}svg .axis.x{text-anchor:middle}
    svg .bars.spend .bar{fill:var(--spend)}svg .bars.leads .bar{fill:var(--leads)}
    svg .line polyline{fill:none;stroke:var(--revenue);stroke-width:2.2;stroke-linejoin:round}
    svg .line .point{fill:#fff;stroke:var(--revenue);stroke-width:1.6}
    svg .peak line{stroke:var(--ink);stroke-dasharray:3 3;stroke-width:1}
    svg .peak text{font-size:12px;font-weight:600;fill:var(--ink)}
    svg .peak .ring{fill:none;stroke:var(--bad);stroke-width:2}
    svg .hover rect{fill:transparent}svg .hover rect:hover{fill:rgba(29,36,51,.06)}
    svg .empty{fill:var(--muted);text-anchor:middle}
    .legend{list-style:none;display:flex;gap:18px;padding:0;margin:6px 0 0;font-size:13px}
    .legend .swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
    .legend .spend .swatch{background:var(--spend)}.legend .revenue .swatch{background:var(--revenue);height:3px;vertical-align:3px}
    .legend .leads .swatch{background:var(--leads)}.legend .sum{color:var(--muted);margin-left:4px}
    .table-head{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin-bottom:8px}.table-head h2{margin:0}
    .table-head .download{margin-left:auto;font-size:13px}
    .scroll{overflow-x:auto}
    table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
    th,td{padding:6px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
    thead th{font-size:12px;color:var(--muted);text-align:right;font-weight:600}
    thead th a{color:inherit}thead th[aria-sort]{color:var(--ink)}
    th.label{text-align:left;font-weight:500;white-space:normal;min-width:220px}
    td{text-align:right}td.positive{color:var(--good)}td.negative{color:var(--bad)}
    tr.level-0 th.label{font-weight:650}tr.level-0{background:#fafbfc}
    tr.level-1 th.label{padding-left:24px}tr.level-2 th.label{padding-left:44px;color:#475467}
    tfoot th,tfoot td{font-weight:700;border-top:2px solid var(--ink);border-bottom:0}
    .message{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:18px;margin-top:18px}
    footer{max-width:1180px;margin:0 auto;padding:4px 24px 24px;color:var(--muted);font-size:12px}
    @media print{header.top,.controls,.table-head nav,.download{display:none}body{background:#fff}.card{border:0}}
    """
}
