//! The table framework: schemas, rows, the query context osquery sends, and
//! the trait every table implements.
//!
//! A table's schema is static (the same columns on every host). Rows are
//! vectors aligned with the columns; `None` is SQL NULL (the key is left out
//! of the response, which osquery turns into NULL).

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

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

/// Constraint values kept from one query context. osquery sends every value
/// of an `IN (...)` list; a column with more than this loses its hints (all
/// rows are produced and SQLite filters them), so a huge list costs neither
/// memory nor time per row.
pub const MAX_CONSTRAINT_VALUES: usize = 10_000;

impl QueryContext {
    /// Parses the `context` string of a generate request. Accepts the current
    /// format and the old one, where `list` is a JSON string and `op` a
    /// string. An empty context means no constraints. Values are borrowed
    /// from the text while parsing, so a long list is never held twice.
    pub fn parse(text: &str) -> Result<QueryContext, ContextError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(QueryContext::default());
        }
        if !text.starts_with('{') {
            return Err(ContextError("not a JSON object".into()));
        }
        let raw: raw::Context<'_> =
            serde_json::from_str(text).map_err(|e| ContextError(format!("not valid ({e})")))?;
        let mut ctx = QueryContext::default();
        let mut dropped = BTreeSet::new();
        for constraint in raw.constraints.unwrap_or_default() {
            let Some(name) = constraint.name else {
                return Err(ContextError("constraint without a name".into()));
            };
            let entries = match constraint.list {
                None | Some(raw::List::Entries(None)) => continue,
                Some(raw::List::TooLong) => {
                    dropped.insert(name.to_string());
                    continue;
                }
                Some(raw::List::Entries(Some(entries))) => entries,
                // Old osquery: the list is itself a JSON-encoded string.
                Some(raw::List::Encoded(s)) if s.trim().is_empty() => continue,
                Some(raw::List::Encoded(s)) => match raw::decode(&s) {
                    Some(raw::List::Entries(Some(entries))) => entries,
                    Some(_) => {
                        dropped.insert(name.to_string());
                        continue;
                    }
                    None => {
                        return Err(ContextError(format!(
                            "constraint {name}: list {s:?} is not a list"
                        )))
                    }
                },
            };
            if ctx.constraints.len() + entries.len() > MAX_CONSTRAINT_VALUES {
                dropped.insert(name.to_string());
                continue;
            }
            for entry in entries {
                let Some(op) = entry.op.and_then(raw::Op::code) else {
                    return Err(ContextError(format!("constraint {name}: bad op")));
                };
                ctx.constraints.push(Constraint {
                    column: name.to_string(),
                    op: Op::from_code(op),
                    expr: entry.expr.map(raw::Expr::into_text).unwrap_or_default(),
                });
            }
        }
        if !dropped.is_empty() {
            log::info!(
                "ignoring constraint hints on {} (more than {MAX_CONSTRAINT_VALUES} values; SQLite filters the rows)",
                dropped.iter().cloned().collect::<Vec<_>>().join(", ")
            );
            ctx.constraints.retain(|c| !dropped.contains(&c.column));
        }
        ctx.columns_used = raw
            .cols_used
            .map(|cols| cols.into_iter().map(|c| c.into_owned()).collect());
        Ok(ctx)
    }

    /// The values a column must equal, when the query pins it with `=` or
    /// `IN (...)`. `None` when the column is unconstrained by equality.
    pub fn equals(&self, column: &str) -> Option<BTreeSet<String>> {
        let values: BTreeSet<String> = self.pinned(column).map(|c| c.expr.clone()).collect();
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
        let mut pinned = self.pinned(column).peekable();
        pinned.peek().is_none() || pinned.any(|c| c.expr == value)
    }

    fn pinned<'a>(&'a self, column: &'a str) -> impl Iterator<Item = &'a Constraint> + 'a {
        self.constraints
            .iter()
            .filter(move |c| c.column == column && c.op == Op::Equals)
    }
}

/// The query context as osquery writes it, borrowed from the JSON text.
mod raw {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Context<'a> {
        #[serde(borrow, default)]
        pub constraints: Option<Vec<Constraint<'a>>>,
        #[serde(borrow, default, rename = "colsUsed")]
        pub cols_used: Option<Vec<Cow<'a, str>>>,
    }

    #[derive(Deserialize)]
    pub struct Constraint<'a> {
        #[serde(borrow, default)]
        pub name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub list: Option<List<'a>>,
    }

    /// A list of entries, or (old osquery) that list encoded as a string.
    /// Read by hand: serde's untagged enums would buffer a long list whole.
    pub enum List<'a> {
        Entries(Option<Vec<Entry<'a>>>),
        Encoded(String),
        /// More entries than a context keeps.
        TooLong,
    }

    impl<'de: 'a, 'a> Deserialize<'de> for List<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct ListVisitor<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for ListVisitor<'a> {
                type Value = List<'a>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a list of constraint entries")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                    while entries.len() <= super::MAX_CONSTRAINT_VALUES {
                        match seq.next_element()? {
                            Some(entry) => entries.push(entry),
                            None => return Ok(List::Entries(Some(entries))),
                        }
                    }
                    // Too many to use: the rest is read past, not kept.
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(List::TooLong)
                }
                fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                    Ok(List::Encoded(s.to_string()))
                }
                fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                    Ok(List::Entries(None))
                }
            }
            d.deserialize_any(ListVisitor(std::marker::PhantomData))
        }
    }

    /// An old-style list encoded as a JSON string, read with the same cap,
    /// its entries owned. `None` when the text is not a list.
    pub fn decode(text: &str) -> Option<List<'static>> {
        match serde_json::from_str::<List<'_>>(text).ok()? {
            List::Entries(Some(entries)) => Some(List::Entries(Some(
                entries.into_iter().map(Entry::into_owned).collect(),
            ))),
            List::TooLong => Some(List::TooLong),
            List::Entries(None) | List::Encoded(_) => None,
        }
    }

    #[derive(Deserialize)]
    pub struct Entry<'a> {
        #[serde(borrow, default)]
        pub op: Option<Op<'a>>,
        #[serde(borrow, default)]
        pub expr: Option<Expr<'a>>,
    }

    impl Entry<'_> {
        fn into_owned(self) -> Entry<'static> {
            Entry {
                op: self.op.map(|op| match op {
                    Op::Number(n) => Op::Number(n),
                    Op::Text(s) => Op::Text(Cow::Owned(s.into_owned())),
                }),
                expr: self.expr.map(|e| match e {
                    Expr::Text(s) => Expr::Text(Cow::Owned(s.into_owned())),
                    Expr::Other(v) => Expr::Other(v),
                }),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub enum Op<'a> {
        Number(i64),
        #[serde(borrow)]
        Text(Cow<'a, str>),
    }

    impl Op<'_> {
        pub fn code(self) -> Option<i64> {
            match self {
                Op::Number(n) => Some(n),
                Op::Text(s) => s.trim().parse().ok(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub enum Expr<'a> {
        #[serde(borrow)]
        Text(Cow<'a, str>),
        Other(serde_json::Value),
    }

    impl Expr<'_> {
        pub fn into_text(self) -> String {
            match self {
                Expr::Text(s) => s.into_owned(),
                Expr::Other(serde_json::Value::Null) => String::new(),
                Expr::Other(v) => v.to_string(),
            }
        }
    }
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
    /// What executables were found to be, remembered across calls.
    pub identity: &'a crate::host::identity::IdentityCache,
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
    fn a_huge_in_list_loses_its_hints_not_the_rows() -> Result<(), ContextError> {
        let values: Vec<String> = (0..MAX_CONSTRAINT_VALUES + 1)
            .map(|i| format!(r#"{{"op":2,"expr":"{i}"}}"#))
            .collect();
        let text = format!(
            r#"{{"constraints":[{{"name":"pid","list":[{}]}},{{"name":"tool_id","list":[{{"op":2,"expr":"anydesk"}}]}}]}}"#,
            values.join(",")
        );
        let ctx = QueryContext::parse(&text)?;
        assert_eq!(ctx.equals("pid"), None);
        assert!(ctx.admits("pid", "99999999"));
        assert!(ctx.admits("tool_id", "anydesk") && !ctx.admits("tool_id", "rustdesk"));
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

/// The name in `names` closest to a misspelled `wanted`, when one is close
/// enough to suggest (at most a third of its letters differ). Pure.
pub fn closest<'a>(wanted: &str, names: &[&'a str]) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(2);
    names
        .iter()
        .map(|n| (strsim::levenshtein(wanted, n), *n))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod closest_tests {
    use super::closest;

    #[test]
    fn suggests_only_near_names() {
        let names = ["remote_access_tools", "security_control_health"];
        assert_eq!(
            closest("remote_acces_tools", &names),
            Some("remote_access_tools")
        );
        assert_eq!(
            closest("security_controls_health", &names),
            Some("security_control_health")
        );
        assert_eq!(closest("processes", &names), None);
    }
}
