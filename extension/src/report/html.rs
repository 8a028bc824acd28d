//! `postern report --format html`: the report as one self-contained HTML
//! file. Charts are SVG drawn by charts-rs and inlined; there is no script,
//! no font, no style sheet and no image from anywhere else, and a content
//! security policy forbids the browser from fetching or running any. Every
//! string from the logs (host names, software names) is escaped: the logs
//! are written by the hosts being audited.
//!
//! Each chart's `<figure>` carries `data-colors`, the series colours it was
//! drawn with; the browser test looks for exactly those in its screenshot.

use std::fmt::Write as _;

use charts_rs::{BarChart, HorizontalBarChart, LineChart};
use serde_json::{json, Value};

use super::{model, pct, Report};

/// Rows in a chart of top items, and in the tables of hosts and findings.
const TOP_CHART: usize = 12;
const TABLE_ROWS: usize = 50;
const WIDTH: f32 = 960.0;

/// Series colours, one set per chart, so that a screenshot shows which
/// charts were drawn.
const EDR_COLOR: &str = "#2563eb";
const TTR_COLORS: [&str; 2] = ["#f59e0b", "#9a3412"];
const TOOL_COLORS: [&str; 2] = ["#dc2626", "#7c3aed"];
const SOFTWARE_COLOR: &str = "#059669";
const WEEK_COLOR: &str = "#0891b2";
const COMPLIANCE_COLOR: &str = "#4f46e5";

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1f2937;background:#f9fafb}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.meta{color:#6b7280;font-size:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin-top:16px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px}
.card .v{font-size:26px;font-weight:600}.card .l{color:#6b7280;font-size:13px}
figure{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:12px 0;padding:8px}
figcaption{color:#6b7280;font-size:13px;padding:4px 8px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left}th{background:#f3f4f6}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.n{white-space:nowrap}
.g{display:inline-block;width:22px;text-align:center;border-radius:4px;color:#fff;font-weight:700}
.gA{background:#15803d}.gB{background:#65a30d}.gC{background:#ca8a04}.gD{background:#ea580c}.gF{background:#b91c1c}
.empty{color:#6b7280;font-style:italic}
code{font-size:13px}
";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A unit for durations whose largest is `max_s` seconds: minutes up to
/// two hours, hours up to two days, days beyond. (name, seconds in one)
pub fn unit_for(max_s: i64) -> (&'static str, f64) {
    if max_s < 2 * 3_600 {
        ("minutes", 60.0)
    } else if max_s < 2 * 86_400 {
        ("hours", 3_600.0)
    } else {
        ("days", 86_400.0)
    }
}

/// `seconds` in `unit`: one decimal, two below 1 (30 minutes are 0.02 days).
fn in_unit(seconds: Option<i64>, unit: (&str, f64)) -> Option<f64> {
    seconds.map(|s| {
        let v = s as f64 / unit.1;
        let scale = if v < 1.0 { 100.0 } else { 10.0 };
        (v * scale).round() / scale
    })
}

fn shown(seconds: Option<i64>, unit: (&str, f64)) -> String {
    in_unit(seconds, unit).map_or("-".into(), |v| {
        if v < 1.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.1}")
        }
    })
}

/// "1 host", "2 hosts".
pub fn count(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The unit of the time-to-resolve column and chart.
fn resolve_unit(r: &Report) -> (&'static str, f64) {
    let max = r
        .controls
        .iter()
        .map(|c| c.time_to_resolve.p90_s)
        .chain([r.remote_access.time_to_resolve.p90_s])
        .flatten()
        .max()
        .unwrap_or(0);
    unit_for(max)
}

/// The unit of the time-to-identify column.
fn identify_unit(r: &Report) -> (&'static str, f64) {
    let max = r
        .controls
        .iter()
        .filter_map(|c| c.time_to_identify.durations.p90_s)
        .max()
        .unwrap_or(0);
    unit_for(max)
}

fn grade(g: &str) -> String {
    if ["A", "B", "C", "D", "F"].contains(&g) {
        format!("<span class=\"g g{g}\">{g}</span>")
    } else {
        "-".into()
    }
}

/// A chart in its figure, or the reason it could not be drawn.
fn figure(id: &str, caption: &str, colors: &[&str], svg: Result<String, String>) -> String {
    match svg {
        Ok(svg) => format!(
            "<figure id=\"{id}\" data-colors=\"{}\">{svg}<figcaption>{}</figcaption></figure>\n",
            colors.join(" "),
            escape(caption)
        ),
        Err(e) => format!(
            "<p class=\"empty\">{}: the chart could not be drawn ({}).</p>\n",
            escape(caption),
            escape(&e)
        ),
    }
}

fn empty(message: &str) -> String {
    format!("<p class=\"empty\">{}</p>\n", escape(message))
}

/// Options every chart shares.
fn base(title: &str, height: f32, colors: &[&str]) -> Value {
    json!({
        "width": WIDTH, "height": height, "title_text": title, "title_align": "left",
        "title_font_size": 16, "legend_align": "right", "series_colors": colors,
        "font_family": "Roboto, Arial, Helvetica, sans-serif",
        "tooltip_show": true, "margin": {"left": 10, "top": 8, "right": 48, "bottom": 8},
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// Draws a chart; a chart library that fails or panics on odd data costs
/// that chart, never the report.
fn draw<C>(
    options: &Value,
    parse: fn(&str) -> charts_rs::Result<C>,
    svg: fn(&C) -> charts_rs::Result<String>,
) -> Result<String, String> {
    let json = options.to_string();
    std::panic::catch_unwind(|| parse(&json).and_then(|c| svg(&c)))
        .map_err(|_| "the chart library failed".to_string())?
        .map_err(|e| e.to_string())
}

fn line_chart(options: &Value) -> Result<String, String> {
    draw(options, LineChart::from_json, LineChart::svg)
}

fn bar_chart(options: &Value) -> Result<String, String> {
    draw(
        options,
        HorizontalBarChart::from_json,
        HorizontalBarChart::svg,
    )
}

fn vertical_bar_chart(options: &Value) -> Result<String, String> {
    draw(options, BarChart::from_json, BarChart::svg)
}

/// Height of a horizontal bar chart with `rows` categories.
fn bar_height(rows: usize, series: usize) -> f32 {
    90.0 + (rows * series) as f32 * 22.0 + rows as f32 * 8.0
}

fn edr_chart(r: &Report) -> String {
    let daily = &r.edr_coverage.daily;
    if daily.is_empty() {
        return empty("No host reported its EDR control.");
    }
    let days: Vec<&str> = daily.iter().map(|d| d.day.as_str()).collect();
    let shares: Vec<f64> = daily
        .iter()
        .map(|d| (d.share * 1000.0).round() / 10.0)
        .collect();
    let options = merge(
        base("EDR coverage per day", 340.0, &[EDR_COLOR]),
        json!({
            "x_axis_data": days, "x_axis_label_overflow": "thin",
            "series_fill": true, "series_stroke_width": 3,
            "y_axis_configs": [{"axis_min": 0, "axis_max": 100, "axis_formatter": "{c}%", "axis_split_number": 5}],
            "series_list": [{"name": "hosts whose EDR passes (%)", "data": shares}],
        }),
    );
    figure(
        "chart-edr-coverage",
        "Share of the hosts reporting postern whose edr control passed at the end of each UTC day.",
        &[EDR_COLOR],
        line_chart(&options),
    )
}

/// A horizontal bar chart of `labels` (top-down) with one bar per series
/// each, in `colors`; a legend when there is more than one series.
fn horizontal_bars(
    (id, title, caption): (&str, &str, &str),
    colors: &[&str],
    labels: &[String],
    series: &[(&str, Vec<f64>)],
) -> String {
    // Horizontal bars are drawn bottom-up: reversed, the first comes on top.
    let labels: Vec<&String> = labels.iter().rev().collect();
    let series: Vec<Value> = series
        .iter()
        .map(|(name, data)| {
            let data: Vec<f64> = data.iter().rev().copied().collect();
            json!({"name": name, "data": data, "label_show": true})
        })
        .collect();
    let options = merge(
        base(title, bar_height(labels.len(), series.len()), colors),
        json!({"legend_show": series.len() > 1, "x_axis_data": labels, "series_list": series}),
    );
    figure(id, caption, colors, bar_chart(&options))
}

fn ttr_chart(r: &Report) -> String {
    let unit = resolve_unit(r);
    let mut rows: Vec<(&str, f64, f64)> = r
        .controls
        .iter()
        .filter_map(|c| {
            let t = &c.time_to_resolve;
            Some((
                c.control,
                in_unit(t.median_s, unit)?,
                in_unit(t.p90_s, unit)?,
            ))
        })
        .collect();
    let ra = &r.remote_access.time_to_resolve;
    if let (Some(m), Some(p)) = (in_unit(ra.median_s, unit), in_unit(ra.p90_s, unit)) {
        rows.push(("unapproved remote access", m, p));
    }
    if rows.is_empty() {
        return empty("No finding was resolved in this window.");
    }
    rows.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(b.0)));
    rows.truncate(TOP_CHART);
    horizontal_bars(
        (
            "chart-time-to-resolve",
            &format!("Time to resolve ({})", unit.0),
            "From a control's first failing result (or a tool's first sighting) to its passing result (or removal); the slowest first.",
        ),
        &TTR_COLORS,
        &rows.iter().map(|r| r.0.to_string()).collect::<Vec<_>>(),
        &[
            ("median", rows.iter().map(|r| r.1).collect()),
            ("90th percentile", rows.iter().map(|r| r.2).collect()),
        ],
    )
}

fn compliance_chart(r: &Report) -> String {
    let daily = &r.compliance.daily;
    if daily.is_empty() {
        return empty("No control results in the logs.");
    }
    let options = merge(
        base("Host-days compliant per day", 320.0, &[COMPLIANCE_COLOR]),
        json!({
            "x_axis_data": daily.iter().map(|d| d.day.as_str()).collect::<Vec<_>>(),
            "x_axis_label_overflow": "thin",
            "series_fill": true, "series_stroke_width": 3,
            "y_axis_configs": [{"axis_min": 0, "axis_max": 100, "axis_formatter": "{c}%", "axis_split_number": 5}],
            "series_list": [{"name": "controls passing all day (%)",
                "data": daily.iter().map(|d| (d.share * 1000.0).round() / 10.0).collect::<Vec<_>>()}],
        }),
    );
    figure(
        "chart-compliance",
        "Share of (host, control) pairs that passed all day, per UTC day: the basis of the window grades.",
        &[COMPLIANCE_COLOR],
        line_chart(&options),
    )
}

fn tools_chart(r: &Report) -> String {
    let mut tools: Vec<&model::Tool> = r.remote_access.tools.iter().collect();
    if tools.is_empty() {
        return empty("No unapproved remote access tool was seen.");
    }
    tools.sort_by(|a, b| {
        b.hosts_seen
            .cmp(&a.hosts_seen)
            .then(a.tool_id.cmp(b.tool_id))
    });
    tools.truncate(TOP_CHART);
    horizontal_bars(
        (
            "chart-remote-access-tools",
            "Unapproved remote access tools (hosts)",
            "Hosts with each unapproved tool at the end of the window, and hosts it was ever seen on.",
        ),
        &TOOL_COLORS,
        &tools.iter().map(|t| t.tool_id.to_string()).collect::<Vec<_>>(),
        &[
            ("hosts now", tools.iter().map(|t| t.hosts_now as f64).collect()),
            ("hosts ever", tools.iter().map(|t| t.hosts_seen as f64).collect()),
        ],
    )
}

fn software_chart(r: &Report) -> String {
    let top = r
        .new_software
        .top
        .get(..TOP_CHART)
        .unwrap_or(&r.new_software.top);
    if top.is_empty() {
        return empty("No unmanaged software arrived after enrollment.");
    }
    let label = |s: &model::Software| {
        if s.source.is_empty() {
            s.name.to_string()
        } else {
            format!("{} ({})", s.name, s.source)
        }
    };
    horizontal_bars(
        (
            "chart-top-software",
            "New unmanaged software (hosts)",
            "Unmanaged software that arrived after enrollment, by the number of hosts it is on.",
        ),
        &[SOFTWARE_COLOR],
        &top.iter().map(label).collect::<Vec<_>>(),
        &[("hosts", top.iter().map(|s| s.hosts as f64).collect())],
    )
}

fn weekly_chart(r: &Report) -> String {
    let weeks = &r.new_software.per_week;
    if weeks.is_empty() {
        return String::new();
    }
    let options = merge(
        base("New unmanaged software per week", 300.0, &[WEEK_COLOR]),
        json!({
            "legend_show": false,
            "x_axis_data": weeks.iter().map(|w| w.week.as_str()).collect::<Vec<_>>(),
            "series_list": [{"name": "items", "data": weeks.iter().map(|w| w.count).collect::<Vec<_>>(), "label_show": true}],
        }),
    );
    figure(
        "chart-software-per-week",
        "Items of unmanaged software by the ISO week they were installed in (or first logged, when the install time is unknown).",
        &[WEEK_COLOR],
        vertical_bar_chart(&options),
    )
}

fn card(out: &mut String, value: &str, label: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
        escape(value),
        escape(label)
    );
}

fn cards(r: &Report) -> String {
    let mut s = String::from("<div class=\"cards\">");
    let e = &r.edr_coverage;
    card(
        &mut s,
        &pct(e.share),
        &format!(
            "EDR coverage now ({} of {})",
            e.hosts_passing,
            count(e.hosts_reporting, "host")
        ),
    );
    let c = &r.compliance;
    card(
        &mut s,
        &format!("{} {}", c.grade, c.window_share.map_or("-".into(), pct)),
        &format!(
            "compliance over {} (host-days passing all day); now {} {}",
            count(r.window.days, "day"),
            c.grade_now,
            pct(c.share_now)
        ),
    );
    let i = &r.time_to_identify;
    let unit = unit_for(i.durations.p90_s.unwrap_or(0));
    card(
        &mut s,
        &format!(
            "{} / {} {}",
            shown(i.durations.median_s, unit),
            shown(i.durations.p90_s, unit),
            unit.0
        ),
        &format!(
            "time to identify, median / p90: from a control breaking to the first result showing it ({} of {} bounded by the query interval)",
            i.from_interval, i.durations.count
        ),
    );
    let overall = &r.time_to_resolve.overall;
    let unit = unit_for(overall.p90_s.unwrap_or(0));
    card(
        &mut s,
        &format!(
            "{} / {} {}",
            shown(overall.median_s, unit),
            shown(overall.p90_s, unit),
            unit.0
        ),
        &format!(
            "time to resolve, median / p90, over {}; {} open",
            count(overall.count, "finding"),
            r.time_to_resolve.open_findings
        ),
    );
    card(
        &mut s,
        &r.remote_access.hosts_with_unapproved_tools.to_string(),
        "hosts with unapproved remote access now",
    );
    let platforms: Vec<String> = r
        .hosts
        .by_platform
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    card(
        &mut s,
        &r.hosts.total.to_string(),
        &format!(
            "hosts ({}); {} with postern, {} without",
            platforms.join(", "),
            r.hosts.with_postern,
            r.hosts.without_postern
        ),
    );
    card(
        &mut s,
        &r.new_software.unmanaged.to_string(),
        "new unmanaged software items",
    );
    s.push_str("</div>\n");
    s
}

fn controls_table(r: &Report) -> String {
    if r.controls.is_empty() {
        return empty("No control results in the logs.");
    }
    let (iu, ru) = (identify_unit(r), resolve_unit(r));
    let mut s = format!(
        "<table id=\"controls\"><tr><th>control</th><th class=\"n\">over the window</th><th>grade</th>\
         <th class=\"n\">now</th><th>grade</th><th class=\"n\">identify median / p90 ({})</th>\
         <th class=\"n\">resolve median / p90 ({})</th><th class=\"n\">open</th></tr>\n",
        iu.0, ru.0
    );
    for c in &r.controls {
        let t = &c.time_to_resolve;
        let i = &c.time_to_identify.durations;
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{} of {}</td><td>{}</td>\
             <td class=\"n\">{} / {}</td><td class=\"n\">{} / {}</td><td class=\"n\">{}</td></tr>",
            escape(c.control),
            c.window_share.map_or("-".into(), pct),
            grade(c.grade),
            c.passing,
            c.hosts,
            grade(c.grade_now),
            shown(i.median_s, iu),
            shown(i.p90_s, iu),
            shown(t.median_s, ru),
            shown(t.p90_s, ru),
            c.open.len()
        );
    }
    s.push_str("</table>\n");
    s.push_str("<p class=\"meta\">Over the window: the share of host-days the control passed all day, and its grade; now: hosts passing at the end. Identify: from when the host says the control broke (its <code>status_since</code>) to the first result showing it, or the query's interval when the host does not say. Resolve: first failing result to the first passing one.</p>\n");
    s
}

fn tools_table(r: &Report) -> String {
    let tools = &r.remote_access.tools;
    if tools.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<table id=\"tools\"><tr><th>tool</th><th class=\"n\">hosts now</th><th class=\"n\">hosts ever</th><th>first seen</th></tr>\n",
    );
    for t in tools {
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(t.tool_id),
            t.hosts_now,
            t.hosts_seen,
            super::when(Some(t.first_seen))
        );
    }
    s.push_str("</table>\n");
    s
}

/// How urgent an open finding is: unapproved remote access and the
/// controls whose loss hides everything else first.
fn severity(finding: &str) -> u8 {
    match finding {
        "tool" => 0,
        "edr" | "disk_encryption" | "filevault" | "postern_baseline" => 1,
        _ => 2,
    }
}

/// Open findings ranked by severity and age, identical ones (same finding,
/// same age as shown) on one row with their hosts.
fn open_table(r: &Report) -> String {
    let start = r.window.start.unwrap_or(i64::MIN);
    // (severity, what, since before the window, age) -> hosts
    let mut groups: std::collections::BTreeMap<(u8, String, bool, i64), Vec<&str>> =
        std::collections::BTreeMap::new();
    let unit = unit_for(
        r.controls
            .iter()
            .flat_map(|c| c.open.iter().map(|o| o.age_s))
            .chain(r.remote_access.open.iter().map(|o| o.age_s))
            .max()
            .unwrap_or(0),
    );
    let rounded = |age: i64| (age as f64 / unit.1 * 10.0).round() as i64;
    for c in &r.controls {
        for o in &c.open {
            let what = format!("control <code>{}</code> failing", escape(c.control));
            groups
                .entry((
                    severity(c.control),
                    what,
                    o.since <= start,
                    -rounded(o.age_s),
                ))
                .or_default()
                .push(o.host);
        }
    }
    for o in &r.remote_access.open {
        let what = format!("unapproved <code>{}</code>", escape(o.tool_id));
        groups
            .entry((severity("tool"), what, o.since <= start, -rounded(o.age_s)))
            .or_default()
            .push(o.host);
    }
    if groups.is_empty() {
        return empty("No finding is open at the end of the window.");
    }
    let total = groups.len();
    let mut s = format!(
        "<table id=\"open\"><tr><th>finding</th><th class=\"n\">open for ({})</th><th class=\"n\">hosts</th><th>which</th></tr>\n",
        unit.0
    );
    for ((sev, what, before, age), hosts) in groups.iter().take(TABLE_ROWS) {
        let age = format!("{:.1}", -*age as f64 / 10.0);
        let age = if *before {
            format!("&ge; {age} <span class=\"meta\">(since before the window)</span>")
        } else {
            age
        };
        let mut names: Vec<String> = hosts.iter().take(8).map(|h| escape(h)).collect();
        if hosts.len() > 8 {
            names.push(format!("and {} more", hosts.len() - 8));
        }
        let level = ["high", "high", "medium"].get(*sev as usize).unwrap_or(&"");
        let _ = writeln!(
            s,
            "<tr><td>{what} <span class=\"meta\">{level}</span></td><td class=\"n\">{age}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            hosts.len(),
            names.join(", ")
        );
    }
    s.push_str("</table>\n");
    if total > TABLE_ROWS {
        s.push_str(&empty(&format!(
            "{} more groups of open findings are in the JSON report.",
            total - TABLE_ROWS
        )));
    }
    s
}

/// Outdated, end-of-life, redundant and unused apps, fleet-wide and on the
/// worst hosts (each host's latest `postern_hygiene_snapshot`).
fn attack_surface(r: &Report) -> String {
    let a = &r.attack_surface;
    if a.hosts_reporting == 0 {
        return empty("No host reported software_hygiene (pack postern-software-hygiene).");
    }
    let f = &a.fleet;
    let mut s = format!(
        "<p>{} reporting {} apps: <strong>{}</strong> waiting for a security update, {} outdated, <strong>{}</strong> past end of life, {} redundant, {} unused for 90 days or more.</p>\n",
        count(a.hosts_reporting, "host"),
        f.apps,
        f.security_updates,
        f.outdated,
        f.eol,
        f.redundant,
        f.unused
    );
    s.push_str("<table id=\"attack-surface\"><tr><th>host</th><th class=\"n\">security updates waiting</th><th class=\"n\">end of life</th><th class=\"n\">redundant</th><th class=\"n\">outdated</th><th class=\"n\">unused</th><th class=\"n\">apps</th></tr>\n");
    for h in &a.worst_hosts {
        let c = &h.counts;
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(h.host),
            c.security_updates,
            c.eol,
            c.redundant,
            c.outdated,
            c.unused,
            c.apps
        );
    }
    s.push_str("</table>\n<p class=\"meta\">The worst hosts first: security updates waiting, then end of life, redundant, outdated, unused; each host's latest software_hygiene snapshot.</p>\n");
    s
}

/// Hosts whose laptop-farm score is over the threshold, and the signals
/// seen most across the fleet (each host's latest snapshot).
fn laptop_farm(r: &Report) -> String {
    let f = &r.laptop_farm;
    if f.hosts_reporting == 0 {
        return empty("No host reported laptop_farm_signals (pack postern-laptop-farm).");
    }
    let mut s = format!(
        "<p>{} reporting: <strong>{}</strong> over the threshold. A signal is a reason to look, not proof.</p>\n",
        count(f.hosts_reporting, "host"),
        f.hosts_over_threshold
    );
    if !f.over_threshold.is_empty() {
        s.push_str("<table id=\"laptop-farm\"><tr><th>host</th><th class=\"n\">score</th><th>signals</th></tr>\n");
        for h in &f.over_threshold {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(h.host),
                h.score,
                escape(&h.signals.join(", "))
            );
        }
        s.push_str("</table>\n");
    }
    if !f.top_signals.is_empty() {
        s.push_str(
            "<table id=\"farm-signals\"><tr><th>signal</th><th class=\"n\">hosts</th></tr>\n",
        );
        for t in &f.top_signals {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                escape(t.signal),
                t.hosts
            );
        }
        s.push_str("</table>\n<p class=\"meta\">Signals by the number of hosts showing them; each host's latest laptop_farm_signals snapshot.</p>\n");
    }
    s
}

fn hosts_table(r: &Report) -> String {
    let mut hosts: Vec<&model::HostGrade> = r.host_grades.iter().collect();
    if hosts.is_empty() {
        return String::new();
    }
    let grades = ["A", "B", "C", "D", "F"];
    let mut s = String::from("<p>Hosts by grade: ");
    for g in grades {
        let n = hosts.iter().filter(|h| h.grade == g).count();
        let _ = write!(s, "{} {n} &nbsp; ", grade(g));
    }
    s.push_str("</p>\n");
    let key = |h: &model::HostGrade| h.window_share.unwrap_or(h.share);
    hosts.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.host.cmp(b.host)));
    s.push_str(
        "<table id=\"hosts\"><tr><th>host</th><th>platform</th><th class=\"n\">over the window</th><th>grade</th><th class=\"n\">controls passing now</th><th>grade</th></tr>\n",
    );
    for h in hosts.iter().take(TABLE_ROWS) {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{} of {}</td><td>{}</td></tr>",
            escape(h.host),
            escape(h.platform.unwrap_or("-")),
            h.window_share.map_or("-".into(), pct),
            grade(h.grade),
            h.passing,
            h.controls,
            grade(h.grade_now)
        );
    }
    s.push_str("</table>\n");
    if hosts.len() > TABLE_ROWS {
        s.push_str(&empty(&format!(
            "The {} hosts with the lowest share are shown; all {} are in the JSON report.",
            TABLE_ROWS,
            hosts.len()
        )));
    }
    s
}

fn input_section(r: &Report) -> String {
    let i = &r.input;
    let mut s = format!(
        "<p>{} lines ({} bytes), {} events; {} malformed lines; {} results of queries postern does not know.</p>\n",
        i.lines, i.bytes, i.events, i.malformed, i.unknown_query_results
    );
    for h in &i.hosts_flooded {
        let _ = writeln!(
            s,
            "<p><strong>Left out:</strong> {} wrote {} lines and {} results, over the per-host budget; none of its results is in the figures.</p>",
            escape(h.host),
            h.lines,
            h.events
        );
    }
    if !i.hosts_standing_out.is_empty() {
        let list: Vec<String> = i
            .hosts_standing_out
            .iter()
            .map(|h| format!("{} ({} lines)", escape(h.host), h.lines))
            .collect();
        let _ = writeln!(
            s,
            "<p>Hosts that wrote at least ten times the median host's {} lines: {}.</p>",
            i.median_lines_per_host,
            list.join(", ")
        );
    }
    if !i.malformed_examples.is_empty() {
        s.push_str("<table id=\"malformed\"><tr><th>source</th><th class=\"n\">line</th><th>error</th></tr>\n");
        for e in &i.malformed_examples {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(e.source),
                e.line,
                escape(e.error)
            );
        }
        s.push_str("</table>\n");
    }
    s
}

/// The report as one HTML page.
pub fn to_html(r: &Report) -> String {
    let mut s = String::with_capacity(64 * 1024);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    // Nothing may be fetched or run, whatever the logs put in the page.
    s.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
    );
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    s.push_str("<meta name=\"generator\" content=\"postern ");
    s.push_str(env!("CARGO_PKG_VERSION"));
    s.push_str("\">\n<title>postern report</title>\n<style>");
    s.push_str(STYLE);
    s.push_str("</style></head><body><main>\n<h1>postern report</h1>\n");
    let _ = writeln!(
        s,
        "<p class=\"meta\">Results from {} to {}.</p>",
        super::when(r.window.start),
        super::when(r.window.end)
    );
    s.push_str(&cards(r));
    s.push_str("<h2>EDR coverage</h2>\n");
    s.push_str(&edr_chart(r));
    s.push_str("<h2>Security controls</h2>\n");
    s.push_str(&controls_table(r));
    s.push_str(&compliance_chart(r));
    s.push_str(&ttr_chart(r));
    s.push_str("<h2>Remote access</h2>\n");
    s.push_str(&tools_chart(r));
    s.push_str(&tools_table(r));
    s.push_str("<h2>New software since enrollment</h2>\n");
    s.push_str(&software_chart(r));
    s.push_str(&weekly_chart(r));
    s.push_str("<h2>Attack surface</h2>\n");
    s.push_str(&attack_surface(r));
    s.push_str("<h2>Laptop-farm signals</h2>\n");
    s.push_str(&laptop_farm(r));
    s.push_str("<h2>Open findings</h2>\n");
    s.push_str(&open_table(r));
    s.push_str("<h2>Hosts</h2>\n");
    s.push_str(&hosts_table(r));
    s.push_str("<h2>Input</h2>\n");
    s.push_str(&input_section(r));
    s.push_str("<p class=\"meta\">Grades: A ≥ 95 %, B ≥ 85 %, C ≥ 70 %, D ≥ 50 %, F below: of host-days passing all day over the window, and of hosts passing now.</p>\n");
    s.push_str("</main></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::report::analyze_lines;
    use crate::report::demo;

    fn html(lines: &[String]) -> String {
        to_html(&analyze_lines("test", lines).report())
    }

    #[test]
    fn demo_report_has_every_chart_and_table() {
        let html = html(&demo::lines(40, 7));
        for id in [
            "chart-edr-coverage",
            "chart-compliance",
            "chart-time-to-resolve",
            "chart-remote-access-tools",
            "chart-top-software",
            "chart-software-per-week",
        ] {
            let at = html.find(&format!("<figure id=\"{id}\"")).unwrap();
            let svg = html[at..].find("<svg").unwrap();
            let end = html[at..].find("</figure>").unwrap();
            assert!(svg < end, "{id} holds an SVG");
        }
        for id in [
            "controls",
            "tools",
            "open",
            "hosts",
            "malformed",
            "attack-surface",
        ] {
            assert!(html.contains(&format!("<table id=\"{id}\"")), "{id}");
        }
        // Self-contained: no address of anything outside the file, no script.
        assert!(!html.contains("<script"));
        assert!(!html.contains("src=\"http"));
        assert!(!html.contains("href=\"http"));
        assert!(!html.contains("url(http"));
        assert!(html.contains("anydesk"));
        // 11 open findings in 2 groups: EDR failing on 7 hosts since before
        // the window, AnyDesk on 4; unapproved remote access ranked first.
        let open = &html[html.find("<table id=\"open\"").unwrap()..];
        let open = &open[..open.find("</table>").unwrap()];
        assert_eq!(open.matches("<tr><td>").count(), 2, "{open}");
        assert!(open.find("anydesk").unwrap() < open.find("edr").unwrap());
        assert!(open.contains("since before the window"));
        assert!(!html.contains(" 1 hosts"), "singular");
        // One unit per column, named.
        assert!(
            html.contains("identify median / p90 (minutes)"),
            "identify: 4 and 5 minutes"
        );
        assert!(
            html.contains("resolve median / p90 (days)"),
            "resolve: EDR p90 is 60 h"
        );
        assert!(
            html.contains("Time to resolve (days)"),
            "chart in the table unit"
        );
    }

    #[test]
    fn strings_from_the_logs_are_escaped() {
        let evil = "<script>alert(1)</script>";
        let row = |query: &str, action: &str, columns: Value| {
            json!({"name": query, "hostIdentifier": evil, "unixTime": 1_767_571_200,
                   "columns": columns, "action": action, "decorations": {"platform": "<b>x</b>"}})
            .to_string()
        };
        let lines = vec![
            row(
                "postern_control_status",
                "added",
                json!({"control": "edr\"><img src=x onerror=alert(1)>", "status": "fail"}),
            ),
            row(
                "postern_remote_access_unapproved",
                "added",
                json!({"tool_id": "<svg onload=alert(1)>"}),
            ),
            row(
                "postern_new_unmanaged_software",
                "added",
                json!({"name": "</figure><script>x()</script>", "source": "deb", "install_time": "1"}),
            ),
            "{\"broken <script>".to_string(),
        ];
        let html = html(&lines);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<svg onload"), "{html}");
        assert!(!html.contains("<b>x</b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn odd_names_and_many_items_still_draw() {
        let mut lines = Vec::new();
        for i in 0..300 {
            let name = match i % 4 {
                0 => "x".repeat(5_000),
                1 => String::new(),
                2 => "\u{202e}\u{1f4a9}\u{0}".to_string(),
                _ => format!("tool-{i}"),
            };
            lines.push(
                json!({"name": "postern_remote_access_unapproved", "hostIdentifier": format!("h{i}"),
                       "unixTime": 1_767_571_200 + i, "columns": {"tool_id": name}, "action": "added"})
                .to_string(),
            );
            lines.push(
                json!({"name": "postern_new_unmanaged_software", "hostIdentifier": format!("h{i}"),
                       "unixTime": 1_767_571_200 + i, "columns": {"name": name, "install_time": "-5"},
                       "action": "added"})
                .to_string(),
            );
        }
        let page = html(&lines);
        assert!(page.contains("<figure id=\"chart-remote-access-tools\""));
        assert!(page.contains("<figure id=\"chart-top-software\""));
    }

    #[test]
    fn an_empty_report_says_so() {
        let html = html(&[]);
        assert!(!html.contains("<figure"));
        assert!(html.contains("No host reported its EDR control."));
        assert!(html.contains("No finding is open"));
    }
}
