//! The table framework: schemas, rows, the query context osquery sends, and
//! the trait every table implements.
//!
//! A table's schema is static (the same columns on every host). Rows are
//! vectors aligned with the columns; `None` is SQL NULL (the key is left out
//! of the response, which osquery turns into NULL).

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::catalog::Catalog;
use crate::host::snapshot::Snapshot;
use crate::policy::LoadedPolicy;
use crate::root::HostRoot;

/// osquery's column types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Integer,
    BigInt,
    UnsignedBigInt,
    Double,
}

impl ColumnType {
    pub fn osquery_name(self) -> &'static str {
        match self {
            ColumnType::Text => "TEXT",
            ColumnType::Integer => "INTEGER",
            ColumnType::BigInt => "BIGINT",
            ColumnType::UnsignedBigInt => "UNSIGNED BIGINT",
            ColumnType::Double => "DOUBLE",
        }
    }
}

/// Column option bits, as osquery defines them.
pub mod options {
    pub const NONE: u32 = 0;
    pub const INDEX: u32 = 1;
    pub const REQUIRED: u32 = 2;
    pub const ADDITIONAL: u32 = 4;
    pub const OPTIMIZED: u32 = 8;
    pub const HIDDEN: u32 = 16;
}

#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnType,
    pub options: u32,
    /// One sentence, ending in a period, in osquery's documentation style.
    pub description: &'static str,
}

impl Column {
    pub const fn new(name: &'static str, kind: ColumnType, description: &'static str) -> Self {
        Column {
            name,
            kind,
            options: options::NONE,
            description,
        }
    }

    pub const fn with_options(mut self, options: u32) -> Self {
        self.options = options;
        self
    }
}

/// One row, aligned with the table's columns.
pub type Row = Vec<Option<String>>;

/// Comparison operators in osquery constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Unique,
    Equals,
    GreaterThan,
    LessThanOrEquals,
    LessThan,
    GreaterThanOrEquals,
    Match,
    Like,
    Glob,
    Regexp,
    Other(i64),
}

impl Op {
    fn from_code(code: i64) -> Op {
        match code {
            1 => Op::Unique,
            2 => Op::Equals,
            4 => Op::GreaterThan,
            8 => Op::LessThanOrEquals,
            16 => Op::LessThan,
            32 => Op::GreaterThanOrEquals,
            64 => Op::Match,
            65 => Op::Like,
            66 => Op::Glob,
            67 => Op::Regexp,
            other => Op::Other(other),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub column: String,
    pub op: Op,
    pub expr: String,
}

/// What osquery tells a table about the query: constraints from the WHERE
/// clause (hints: SQLite filters again) and the columns it uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryContext {
    pub constraints: Vec<Constraint>,
    pub columns_used: Option<BTreeSet<String>>,
}

#[derive(Debug, PartialEq)]
pub struct ContextError(pub String);

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed query context: {}", self.0)
    }
}

impl QueryContext {
    /// Parses the `context` string of a generate request. Accepts the current
    /// format and the old one, where `list` is a JSON string and `op` a
    /// string. An empty context means no constraints.
    pub fn parse(text: &str) -> Result<QueryContext, ContextError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(QueryContext::default());
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| ContextError(format!("not JSON ({e})")))?;
        let Value::Object(map) = value else {
            return Err(ContextError("not a JSON object".into()));
        };
        let mut ctx = QueryContext::default();
        match map.get("constraints") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    parse_constraint_entry(item, &mut ctx.constraints)?;
                }
            }
            Some(other) => {
                return Err(ContextError(format!(
                    "\"constraints\" is {other}, not a list"
                )));
            }
        }
        if let Some(Value::Array(cols)) = map.get("colsUsed") {
            ctx.columns_used = Some(
                cols.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect(),
            );
        }
        Ok(ctx)
    }

    /// The values a column must equal, when the query pins it with `=` or
    /// `IN (...)`. `None` when the column is unconstrained by equality.
    pub fn equals(&self, column: &str) -> Option<BTreeSet<String>> {
        let values: BTreeSet<String> = self
            .constraints
            .iter()
            .filter(|c| c.column == column && c.op == Op::Equals)
            .map(|c| c.expr.clone())
            .collect();
        (!values.is_empty()).then_some(values)
    }

    /// Like [`equals`](Self::equals), for integer columns; unparsable values
    /// are dropped (they can match no row).
    pub fn equals_i64(&self, column: &str) -> Option<BTreeSet<i64>> {
        self.equals(column)
            .map(|set| set.iter().filter_map(|v| v.trim().parse().ok()).collect())
    }

    /// True unless the query pins `column` to values that exclude `value`.
    pub fn admits(&self, column: &str, value: &str) -> bool {
        self.equals(column).is_none_or(|set| set.contains(value))
    }
}

fn parse_constraint_entry(item: &Value, out: &mut Vec<Constraint>) -> Result<(), ContextError> {
    let Some(name) = item.get("name").and_then(Value::as_str) else {
        return Err(ContextError(format!("constraint without a name: {item}")));
    };
    let list = match item.get("list") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(list)) => list.clone(),
        // Old osquery: the list is itself a JSON-encoded string.
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(list)) => list,
            _ => {
                return Err(ContextError(format!(
                    "constraint {name}: list {s:?} is not a list"
                )))
            }
        },
        Some(other) => {
            return Err(ContextError(format!("constraint {name}: list is {other}")));
        }
    };
    for entry in &list {
        let op = match entry.get("op") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let Some(op) = op else {
            return Err(ContextError(format!(
                "constraint {name}: bad op in {entry}"
            )));
        };
        let expr = match entry.get("expr") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        out.push(Constraint {
            column: name.to_string(),
            op: Op::from_code(op),
            expr,
        });
    }
    Ok(())
}

/// A point in time after which a table should stop collecting. Long walks
/// check it so an abandoned call stops soon after its deadline.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn none() -> Self {
        Deadline(None)
    }

    pub fn after(limit: Duration) -> Self {
        Deadline(Instant::now().checked_add(limit))
    }

    pub fn expired(&self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }
}

/// Everything a table's generate needs, passed in (never read from globals).
pub struct GenerateContext<'a> {
    pub root: &'a HostRoot,
    /// The host as read during this call, shared by the tables it runs.
    pub host: &'a Snapshot<'a>,
    pub policy: &'a LoadedPolicy,
    pub catalog: &'a Catalog,
    pub query: &'a QueryContext,
    pub deadline: Deadline,
    /// The time of the call (Unix seconds), for `checked_at` and ages.
    pub now: i64,
    /// Where the enrollment baseline lives.
    pub state: &'a crate::baseline::Store,
}

/// A table's answer: its rows, and the problems met on the way (places it
/// could not read), which are logged and never empty the table.
#[derive(Debug, Default)]
pub struct TableOutput {
    pub rows: Vec<Row>,
    pub warnings: Vec<String>,
}

pub trait Table: Send + Sync {
    fn name(&self) -> &'static str;
    /// One sentence describing what the table answers.
    fn description(&self) -> &'static str;
    /// Platforms where the table returns data (`linux`, `darwin`, `windows`).
    fn platforms(&self) -> &'static [&'static str];
    fn columns(&self) -> &'static [Column];
    fn generate(&self, ctx: &GenerateContext<'_>) -> TableOutput;
}

/// Turns a typed value into the string osquery expects.
pub fn text(value: impl Into<String>) -> Option<String> {
    Some(value.into())
}

pub fn flag(value: bool) -> Option<String> {
    Some(if value { "1" } else { "0" }.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_current_context() -> Result<(), ContextError> {
        let ctx = QueryContext::parse(
            r#"{"constraints":[{"name":"pid","list":[{"op":2,"expr":"123"},{"op":2,"expr":"7"}],"affinity":"BIGINT"},
               {"name":"path","list":[],"affinity":"TEXT"}],"colsUsed":["pid","path"],"colsUsedBitset":3}"#,
        )?;
        assert_eq!(ctx.equals_i64("pid"), Some([7, 123].into_iter().collect()));
        assert_eq!(ctx.equals("path"), None);
        assert!(ctx.admits("pid", "7") && !ctx.admits("pid", "8") && ctx.admits("path", "x"));
        assert_eq!(ctx.columns_used.map(|c| c.len()), Some(2));
        Ok(())
    }

    #[test]
    fn parses_old_context_with_string_list_and_op() -> Result<(), ContextError> {
        let ctx = QueryContext::parse(
            r#"{"constraints":[{"name":"tool_id","list":"[{\"op\":\"2\",\"expr\":\"anydesk\"}]","affinity":"TEXT"}]}"#,
        )?;
        assert_eq!(ctx.constraints.len(), 1);
        assert_eq!(
            ctx.equals("tool_id"),
            Some(["anydesk".to_string()].into_iter().collect())
        );
        Ok(())
    }

    #[test]
    fn non_equality_ops_do_not_pin() -> Result<(), ContextError> {
        let ctx = QueryContext::parse(
            r#"{"constraints":[{"name":"pid","list":[{"op":4,"expr":"10"},{"op":65,"expr":"%a%"}]}]}"#,
        )?;
        assert_eq!(ctx.constraints.len(), 2);
        assert_eq!(ctx.constraints.first().map(|c| c.op), Some(Op::GreaterThan));
        assert_eq!(ctx.equals("pid"), None);
        Ok(())
    }

    #[test]
    fn garbage_contexts_are_errors_not_panics() {
        for bad in [
            "{",
            "[]",
            "42",
            r#"{"constraints":"x"}"#,
            r#"{"constraints":[{"list":[]}]}"#,
            r#"{"constraints":[{"name":"pid","list":[{"op":"two","expr":"1"}]}]}"#,
            r#"{"constraints":[{"name":"pid","list":"not json"}]}"#,
        ] {
            assert!(QueryContext::parse(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(QueryContext::parse(""), Ok(QueryContext::default()));
        assert_eq!(QueryContext::parse("{}"), Ok(QueryContext::default()));
    }
}
