//! `postern audit`: every table on this machine, summarised for a person
//! (text) or a pipeline (JSON).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::engine::{Engine, TableResult};
use crate::host::walk::SCAN_INCOMPLETE;
use crate::table::Row;

/// Evidence lines shown per tool in the text summary.
const EVIDENCE_SHOWN: usize = 5;

pub struct TableReport {
    pub name: &'static str,
    pub result: Result<TableResult, String>,
}

pub struct AuditReport {
    pub root: String,
    pub policy: String,
    pub tables: Vec<TableReport>,
}

fn cell<'a>(result: &'a TableResult, row: &'a Row, column: &str) -> &'a str {
    result
        .columns
        .iter()
        .position(|c| c.name == column)
        .and_then(|i| row.get(i))
        .and_then(|v| v.as_deref())
        .unwrap_or("")
}

/// One tool's findings, for the summary.
struct ToolSummary<'a> {
    name: &'a str,
    id: &'a str,
    category: &'a str,
    severity: &'a str,
    approved: bool,
    /// Every piece of evidence is a default port alone (low confidence).
    hint_only: bool,
    evidence: Vec<(&'a str, &'a str)>,
}

fn summarise(result: &TableResult) -> Vec<ToolSummary<'_>> {
    let mut by_tool: BTreeMap<&str, ToolSummary<'_>> = BTreeMap::new();
    for row in &result.rows {
        // Rows about the host rather than a tool are listed on their own.
        if cell(result, row, "tool_id").is_empty() {
            continue;
        }
        let id = cell(result, row, "tool_id");
        let entry = by_tool.entry(id).or_insert_with(|| ToolSummary {
            name: cell(result, row, "name"),
            id,
            category: cell(result, row, "category"),
            severity: cell(result, row, "severity"),
            approved: cell(result, row, "approved") == "1",
            hint_only: true,
            evidence: Vec::new(),
        });
        entry.hint_only &= cell(result, row, "confidence") == "low";
        entry.evidence.push((
            cell(result, row, "evidence_type"),
            cell(result, row, "evidence"),
        ));
    }
    let mut tools: Vec<_> = by_tool.into_values().collect();
    // Unapproved first, then by severity, then by name.
    let rank = |s: &str| match s {
        "high" => 0,
        "medium" => 1,
        "low" => 2,
        _ => 3,
    };
    tools.sort_by(|a, b| {
        (a.approved, a.hint_only, rank(a.severity), a.name).cmp(&(
            b.approved,
            b.hint_only,
            rank(b.severity),
            b.name,
        ))
    });
    tools
}

/// The control summary: counts, then every control that does not pass,
/// required ones first, with its evidence and fix.
fn controls_text(result: &TableResult) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &result.rows {
        *counts.entry(cell(result, row, "status")).or_default() += 1;
    }
    let summary: Vec<String> = ["pass", "fail", "degraded", "unknown", "not_applicable"]
        .iter()
        .filter_map(|k| counts.get(k).map(|n| format!("{n} {k}")))
        .collect();
    let mut s = format!("Security controls: {}\n", summary.join(", "));
    let mut problems: Vec<&Row> = result
        .rows
        .iter()
        .filter(|r| matches!(cell(result, r, "status"), "fail" | "degraded" | "unknown"))
        .collect();
    let rank = |r: &Row| {
        let required = cell(result, r, "required") == "1";
        let status = match cell(result, r, "status") {
            "fail" => 0,
            "degraded" => 1,
            _ => 2,
        };
        (!required, status)
    };
    problems.sort_by_key(|r| rank(r));
    for r in problems {
        let product = cell(result, r, "product");
        let name = if product.is_empty() {
            cell(result, r, "control").to_string()
        } else {
            format!("{}:{product}", cell(result, r, "control"))
        };
        s.push_str(&format!(
            "  [{}] {name}{}: {}\n       fix: {}\n",
            cell(result, r, "status"),
            if cell(result, r, "required") == "1" {
                " (required)"
            } else {
                ""
            },
            cell(result, r, "evidence"),
            cell(result, r, "remediation"),
        ));
    }
    s
}

/// New software: counts, then the unmanaged items, remote access tools first.
/// Lines for the rows saying a walk stopped early (`kind` holds the marker).
fn incomplete_text(result: &TableResult, kind: &str, what: &str) -> String {
    result
        .rows
        .iter()
        .filter(|r| cell(result, r, kind) == SCAN_INCOMPLETE)
        .map(|r| {
            format!(
                "  [??] incomplete: {}: {}\n",
                cell(result, r, "path"),
                cell(result, r, what)
            )
        })
        .collect()
}

fn new_software_text(result: &TableResult) -> String {
    let items = result
        .rows
        .iter()
        .filter(|r| cell(result, r, "source") != SCAN_INCOMPLETE)
        .count();
    let unmanaged: Vec<&Row> = result
        .rows
        .iter()
        .filter(|r| cell(result, r, "managed") == "0")
        .collect();
    let mut s = format!(
        "New software since enrollment: {items} items, {} unmanaged\n",
        unmanaged.len()
    );
    s.push_str(&incomplete_text(result, "source", "name"));
    let mut shown: Vec<&Row> = unmanaged;
    shown.sort_by_key(|r| cell(result, r, "remote_access_tool").is_empty());
    for r in shown.iter().take(20) {
        let tool = cell(result, r, "remote_access_tool");
        s.push_str(&format!(
            "  {} {} ({}){}{}\n",
            cell(result, r, "name"),
            cell(result, r, "version"),
            cell(result, r, "source"),
            match cell(result, r, "installed_by") {
                "" => String::new(),
                by => format!(" by {by}"),
            },
            if tool.is_empty() {
                String::new()
            } else {
                format!(" — remote access tool {tool}")
            }
        ));
    }
    if shown.len() > 20 {
        s.push_str(&format!(
            "  ... {} more (postern query new_software_since_enrollment)\n",
            shown.len() - 20
        ));
    }
    s
}

fn hygiene_text(result: &TableResult) -> String {
    let count = |column: &str| {
        result
            .rows
            .iter()
            .filter(|r| cell(result, r, column) == "1")
            .count()
    };
    let redundant = result
        .rows
        .iter()
        .filter(|r| !cell(result, r, "redundant_with").is_empty())
        .count();
    let mut s = format!(
        "Software hygiene: {} apps; {} outdated ({} with a security update), {} past end of life, {redundant} redundant\n",
        result.rows.len(),
        count("outdated"),
        count("security_update"),
        count("eol"),
    );
    // What to act on first: security updates, end of life, redundancy.
    let mut flagged: Vec<&Row> = result
        .rows
        .iter()
        .filter(|r| !cell(result, r, "reason").is_empty())
        .collect();
    flagged.sort_by_key(|r| {
        (
            cell(result, r, "security_update") != "1",
            cell(result, r, "eol") != "1",
            cell(result, r, "redundant_with").is_empty(),
        )
    });
    for r in flagged.iter().take(15) {
        s.push_str(&format!(
            "  {} ({}): {}\n",
            cell(result, r, "name"),
            cell(result, r, "source"),
            cell(result, r, "reason")
        ));
    }
    if flagged.len() > 15 {
        s.push_str(&format!(
            "  ... {} more (postern query software_hygiene)\n",
            flagged.len() - 15
        ));
    }
    s
}

fn farm_text(result: &TableResult) -> String {
    let score = result
        .rows
        .iter()
        .find(|r| cell(result, r, "signal") == "score");
    let mut s = match score {
        Some(r) => format!(
            "Laptop-farm signals: score {} ({}; threshold {}): a reason to look, not proof\n",
            cell(result, r, "weight"),
            cell(result, r, "status"),
            cell(result, r, "expected").trim_start_matches("< ")
        ),
        None => "Laptop-farm signals: no score\n".to_string(),
    };
    for r in result
        .rows
        .iter()
        .filter(|r| cell(result, r, "status") == "present")
    {
        s.push_str(&format!(
            "  [{:>2}] {}: {}\n",
            cell(result, r, "weight"),
            cell(result, r, "signal"),
            cell(result, r, "evidence")
        ));
    }
    let unknown: Vec<&str> = result
        .rows
        .iter()
        .filter(|r| cell(result, r, "status") == "unknown")
        .map(|r| cell(result, r, "signal"))
        .collect();
    if !unknown.is_empty() {
        s.push_str(&format!(
            "  not checked (source missing or unreadable): {}\n",
            unknown.join(", ")
        ));
    }
    s
}

pub fn audit(engine: &Engine) -> AuditReport {
    let policy = engine
        .load_policy()
        .map(|p| p.describe())
        .unwrap_or_else(|e| e.to_string());
    let tables = engine
        .tables()
        .iter()
        .map(|t| TableReport {
            name: t.name(),
            result: engine.generate(t.name(), "").map_err(|e| e.to_string()),
        })
        .collect();
    AuditReport {
        root: engine.root().base().display().to_string(),
        policy,
        tables,
    }
}

impl AuditReport {
    /// Required controls that fail or are degraded.
    pub fn failing_required_controls(&self) -> usize {
        self.tables
            .iter()
            .filter(|t| t.name == "security_control_health")
            .filter_map(|t| t.result.as_ref().ok())
            .map(|r| {
                r.rows
                    .iter()
                    .filter(|row| {
                        cell(r, row, "required") == "1"
                            && matches!(cell(r, row, "status"), "fail" | "degraded")
                    })
                    .count()
            })
            .sum()
    }

    pub fn unapproved_tools(&self) -> usize {
        self.unapproved_tool_ids().len()
    }

    /// Ids of the unapproved tools found with more than a port hint, sorted.
    pub fn unapproved_tool_ids(&self) -> Vec<&str> {
        self.tables
            .iter()
            .filter(|t| t.name == "remote_access_tools")
            .filter_map(|t| t.result.as_ref().ok())
            .flat_map(|r| {
                summarise(r)
                    .into_iter()
                    .filter(|s| !s.approved && !s.hint_only)
                    .map(|s| s.id)
            })
            .collect()
    }

    pub fn to_text(&self) -> String {
        let mut s = format!("postern audit of {}\n{}\n", self.root, self.policy);
        for table in &self.tables {
            s.push('\n');
            let result = match &table.result {
                Ok(r) => r,
                Err(e) => {
                    s.push_str(&format!("{}: failed: {e}\n", table.name));
                    continue;
                }
            };
            if table.name == "remote_access_tools" {
                let tools = summarise(result);
                let hints = tools.iter().filter(|t| t.hint_only && !t.approved).count();
                let unapproved = tools.iter().filter(|t| !t.approved && !t.hint_only).count();
                s.push_str(&format!(
                    "Remote access tools: {} found, {unapproved} unapproved{}\n",
                    tools.len() - hints,
                    match hints {
                        0 => String::new(),
                        1 => ", and 1 hint from a port alone".to_string(),
                        n => format!(", and {n} hints from ports alone"),
                    }
                ));
                for tool in &tools {
                    if tool.hint_only && !tool.approved {
                        // A default port alone: worth a look, not a verdict.
                        s.push_str(&format!(
                            "  [? ] {} ({}) {}: hint only, from a port it uses (open here, or connected to)\n",
                            tool.name, tool.id, tool.category
                        ));
                    } else {
                        let verdict = if tool.approved {
                            "approved"
                        } else {
                            "NOT APPROVED"
                        };
                        s.push_str(&format!(
                            "  [{}] {} ({}) {}, severity {}: {verdict}\n",
                            if tool.approved { "ok" } else { "!!" },
                            tool.name,
                            tool.id,
                            tool.category,
                            tool.severity
                        ));
                    }
                    for (kind, evidence) in tool.evidence.iter().take(EVIDENCE_SHOWN) {
                        s.push_str(&format!("       {kind}: {evidence}\n"));
                    }
                    if tool.evidence.len() > EVIDENCE_SHOWN {
                        s.push_str(&format!(
                            "       ... {} more (postern query remote_access_tools --where tool_id={})\n",
                            tool.evidence.len() - EVIDENCE_SHOWN,
                            tool.id
                        ));
                    }
                }
                if tools.is_empty() {
                    s.push_str("  none\n");
                }
                for r in result
                    .rows
                    .iter()
                    .filter(|r| cell(result, r, "tool_id").is_empty())
                {
                    s.push_str(&format!(
                        "  [??] {}: {}\n",
                        cell(result, r, "evidence_type"),
                        cell(result, r, "evidence")
                    ));
                }
            } else if table.name == "security_control_health" {
                s.push_str(&controls_text(result));
            } else if table.name == "new_software_since_enrollment" {
                s.push_str(&new_software_text(result));
            } else if table.name == "software_hygiene" {
                s.push_str(&hygiene_text(result));
            } else if table.name == "laptop_farm_signals" {
                s.push_str(&farm_text(result));
            } else {
                s.push_str(&format!("{}: {} rows\n", table.name, result.rows.len()));
            }
            for w in &result.warnings {
                s.push_str(&format!("  note: {w}\n"));
            }
        }
        s
    }

    pub fn to_json(&self) -> Value {
        let tables: serde_json::Map<String, Value> = self
            .tables
            .iter()
            .map(|t| {
                let value = match &t.result {
                    Ok(r) => json!({
                        "rows": crate::output::to_json(r.columns, &r.rows),
                        "warnings": r.warnings,
                    }),
                    Err(e) => json!({ "error": e }),
                };
                (t.name.to_string(), value)
            })
            .collect();
        json!({
            "root": self.root,
            "policy": self.policy,
            "unapproved_remote_access_tools": self.unapproved_tools(),
            "unapproved_remote_access_tool_ids": self.unapproved_tool_ids(),
            "failing_required_controls": self.failing_required_controls(),
            "tables": tables,
        })
    }
}
