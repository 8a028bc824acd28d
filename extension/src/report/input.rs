//! Reading osquery result logs: files, directories (every file below, in
//! name order), or standard input; plain or gzip (detected by its magic
//! bytes); and parsing one result line into the few cells the report reads
//! (`chunks.rs` cuts the input into lines and spreads the parsing over
//! threads).
//!
//! Three formats, as osquery's filesystem logger and log pipelines write
//! them: event format (one row per line with `action` added/removed), batch
//! format (`diffResults` with `added` and `removed` lists) and snapshot
//! format (`snapshot` list, `action` snapshot).

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;

/// Largest line accepted; longer ones count as malformed.
pub const MAX_LINE: usize = 16 << 20;
const MAX_FILES: usize = 100_000;

/// What a result line says happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Added,
    Removed,
    Snapshot,
}

/// A scalar cell as text: osquery writes strings, or numbers when
/// `numerics` is on. Borrowed from the line when it has no escapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many cells of a row the report reads.
pub const CELLS: usize = 21;

impl<'a> Row<'a> {
    /// The cells in a fixed order, for [`Row::from_cells`].
    pub fn cells(&self) -> [Option<&Text<'a>>; CELLS] {
        [
            self.control.as_ref(),
            self.product.as_ref(),
            self.status.as_ref(),
            self.tool_id.as_ref(),
            self.name.as_ref(),
            self.source.as_ref(),
            self.install_time.as_ref(),
            self.remote_access_tool.as_ref(),
            self.managed.as_ref(),
            self.status_since.as_ref(),
            self.evidence_type.as_ref(),
            self.evidence.as_ref(),
            self.path.as_ref(),
            self.pid.as_ref(),
            self.outdated.as_ref(),
            self.security_update.as_ref(),
            self.eol.as_ref(),
            self.redundant_with.as_ref(),
            self.unused_days.as_ref(),
            self.signal.as_ref(),
            self.weight.as_ref(),
        ]
    }

    /// The row whose cell `i` (in the order of [`Row::cells`]) is `cell(i)`.
    pub fn from_cells(cell: impl Fn(usize) -> Option<Text<'a>>) -> Self {
        Row {
            control: cell(0),
            product: cell(1),
            status: cell(2),
            tool_id: cell(3),
            name: cell(4),
            source: cell(5),
            install_time: cell(6),
            remote_access_tool: cell(7),
            managed: cell(8),
            status_since: cell(9),
            evidence_type: cell(10),
            evidence: cell(11),
            path: cell(12),
            pid: cell(13),
            outdated: cell(14),
            security_update: cell(15),
            eol: cell(16),
            redundant_with: cell(17),
            unused_days: cell(18),
            signal: cell(19),
            weight: cell(20),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(if v { "1" } else { "0" })))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The cells of a result row that the report reads; the others are skipped
/// without being kept.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Row<'a> {
    #[serde(borrow)]
    pub control: Option<Text<'a>>,
    #[serde(borrow)]
    pub product: Option<Text<'a>>,
    #[serde(borrow)]
    pub status: Option<Text<'a>>,
    #[serde(borrow)]
    pub tool_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow)]
    pub source: Option<Text<'a>>,
    #[serde(borrow)]
    pub install_time: Option<Text<'a>>,
    #[serde(borrow)]
    pub remote_access_tool: Option<Text<'a>>,
    #[serde(borrow)]
    pub managed: Option<Text<'a>>,
    #[serde(borrow)]
    pub status_since: Option<Text<'a>>,
    #[serde(borrow)]
    pub evidence_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub evidence: Option<Text<'a>>,
    #[serde(borrow)]
    pub path: Option<Text<'a>>,
    #[serde(borrow)]
    pub pid: Option<Text<'a>>,
    #[serde(borrow)]
    pub outdated: Option<Text<'a>>,
    #[serde(borrow)]
    pub security_update: Option<Text<'a>>,
    #[serde(borrow)]
    pub eol: Option<Text<'a>>,
    #[serde(borrow)]
    pub redundant_with: Option<Text<'a>>,
    #[serde(borrow)]
    pub unused_days: Option<Text<'a>>,
    #[serde(borrow)]
    pub signal: Option<Text<'a>>,
    #[serde(borrow)]
    pub weight: Option<Text<'a>>,
}

/// A cell's text, empty when absent.
pub fn cell<'r>(v: &'r Option<Text<'_>>) -> &'r str {
    v.as_ref().map_or("", Text::as_str)
}

#[derive(Deserialize)]
struct Diff<'a> {
    #[serde(borrow, default)]
    added: Option<Vec<Row<'a>>>,
    #[serde(borrow, default)]
    removed: Option<Vec<Row<'a>>>,
}

#[derive(Deserialize)]
struct Decorations<'a> {
    #[serde(borrow, default)]
    platform: Option<Text<'a>>,
    #[serde(borrow, default)]
    os_platform: Option<Text<'a>>,
}

/// One log line as osquery writes it, with only the parts the report reads.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow, rename = "hostIdentifier", alias = "host_identifier")]
    host: Option<Text<'a>>,
    #[serde(borrow, rename = "unixTime")]
    time: Option<Text<'a>>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    columns: Option<Row<'a>>,
    #[serde(borrow, default)]
    snapshot: Option<Vec<Row<'a>>>,
    #[serde(borrow, rename = "diffResults")]
    diff: Option<Diff<'a>>,
    #[serde(borrow)]
    decorations: Option<Decorations<'a>>,
}

/// One result line: who, which query, when, and its rows. Strings borrow
/// from the line where they can.
#[derive(Clone, Debug, PartialEq)]
pub struct Line<'a> {
    pub host: Cow<'a, str>,
    /// The query's name without pack prefixes (`pack/postern-x/q` -> `q`).
    pub query: Cow<'a, str>,
    pub time: i64,
    /// `decorations.platform` or similar, when the log has it.
    pub platform: Option<Cow<'a, str>>,
    /// Removed rows first, as osquery applies a batch.
    pub rows: Vec<(Action, Row<'a>)>,
}

/// The query name without pack prefixes (`pack/x/q`, `pack_x_q` when the
/// pack name is known to end at `_postern`). Pure.
pub fn short_name(name: &str) -> &str {
    let name = name.rsplit('/').next().unwrap_or(name);
    // osquery's old `_` delimiter: `pack_postern-remote-access_postern_x`.
    match name.find("_postern_") {
        Some(i) if name.starts_with("pack_") => name.get(i + 1..).unwrap_or(name),
        _ => name,
    }
}

fn short(name: Cow<'_, str>) -> Cow<'_, str> {
    match name {
        Cow::Borrowed(n) => Cow::Borrowed(short_name(n)),
        Cow::Owned(n) => Cow::Owned(short_name(&n).to_string()),
    }
}

/// Parses one log line. Pure.
pub fn parse_line(line: &str) -> Result<Line<'_>, String> {
    if !line.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    let raw: Raw = serde_json::from_str(line).map_err(|e| format!("not a result line: {e}"))?;
    let name = raw.name.ok_or("no \"name\"")?.0;
    let host = raw.host.ok_or("no \"hostIdentifier\"")?.0;
    let time = raw
        .time
        .and_then(|t| t.as_str().parse().ok())
        .ok_or("no \"unixTime\"")?;
    let platform = raw
        .decorations
        .and_then(|d| d.platform.or(d.os_platform))
        .map(|t| t.0);
    let rows = if let Some(diff) = raw.diff {
        let removed = diff.removed.unwrap_or_default().into_iter();
        let added = diff.added.unwrap_or_default().into_iter();
        removed
            .map(|r| (Action::Removed, r))
            .chain(added.map(|r| (Action::Added, r)))
            .collect()
    } else if let Some(snapshot) = raw.snapshot {
        snapshot
            .into_iter()
            .map(|r| (Action::Snapshot, r))
            .collect()
    } else {
        let action = match raw.action.as_ref().map(Text::as_str) {
            Some("added") => Action::Added,
            Some("removed") => Action::Removed,
            Some("snapshot") => Action::Snapshot,
            other => return Err(format!("unknown action {other:?}")),
        };
        vec![(action, raw.columns.ok_or("no \"columns\"")?)]
    };
    Ok(Line {
        host,
        query: short(name),
        time,
        platform,
        rows,
    })
}

/// The files to read: each path itself, or every file below a directory.
/// A directory with no file below it is an error naming it, as a missing
/// file is: a scheduled report must not mail figures for zero hosts.
pub fn expand(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let named =
        |path: &Path, e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" || !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let before = out.len();
        let mut stack = vec![p.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| named(&dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries.into_iter().rev() {
                let meta = std::fs::symlink_metadata(&e).map_err(|err| named(&e, err))?;
                if meta.is_dir() {
                    stack.push(e);
                } else if meta.is_file() && out.len() < MAX_FILES {
                    out.push(e);
                }
            }
        }
        if out.len() == before {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no result log file in this directory", p.display()),
            ));
        }
    }
    Ok(out)
}

/// A reader that reports every read's size (for the progress bar: on a
/// compressed file it counts the compressed bytes, as on disk).
struct Counted<R> {
    inner: R,
    on_read: Box<dyn FnMut(u64)>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_read)(n as u64);
        Ok(n)
    }
}

/// Opens a source, decompressing gzip; `on_read` hears of every read from
/// the file itself.
pub fn open(path: &Path, on_read: Box<dyn FnMut(u64)>) -> io::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        Counted {
            inner: raw,
            on_read,
        },
    );
    let gz = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// One line's text: too long or not UTF-8 is an error. Pure.
pub fn line_text(line: &[u8]) -> Result<&str, String> {
    if line.len() > MAX_LINE {
        return Err(format!("line longer than {MAX_LINE} bytes"));
    }
    std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_formats() {
        let event = r#"{"name":"pack/postern-control-health/postern_control_status","hostIdentifier":"h1","calendarTime":"x","unixTime":1700000000,"epoch":0,"counter":1,"numerics":false,"decorations":{"platform":"ubuntu"},"columns":{"control":"edr","status":"fail","extra":[1,{"x":2}]},"action":"added"}"#;
        let e = parse_line(event).unwrap();
        assert_eq!(e.rows.len(), 1);
        assert_eq!(
            (&*e.query, e.rows[0].0, e.platform.as_deref(), e.time),
            (
                "postern_control_status",
                Action::Added,
                Some("ubuntu"),
                1_700_000_000
            )
        );
        assert_eq!(cell(&e.rows[0].1.status), "fail");
        let batch = r#"{"name":"pack_postern-remote-access_postern_remote_access_unapproved","hostIdentifier":"h2","unixTime":"1700000100","diffResults":{"added":[{"tool_id":"anydesk"}],"removed":[{"tool_id":"teamviewer"},{"tool_id":"x"}]}}"#;
        let b = parse_line(batch).unwrap();
        assert_eq!(b.rows.len(), 3);
        assert_eq!(b.rows[0].0, Action::Removed);
        assert_eq!(cell(&b.rows[2].1.tool_id), "anydesk");
        assert_eq!(b.query, "postern_remote_access_unapproved");
        let snap = r#"{"name":"postern_control_snapshot","hostIdentifier":"h3","unixTime":1700000200,"snapshot":[{"control":"edr","status":"pass"}],"action":"snapshot"}"#;
        assert_eq!(parse_line(snap).unwrap().rows[0].0, Action::Snapshot);
        // numerics: numbers in cells; escapes in strings.
        let numbers = r#"{"name":"q","hostIdentifier":"h\u00e9","unixTime":5,"action":"added","columns":{"install_time":1699999999,"managed":true,"name":"a\"b"}}"#;
        let n = parse_line(numbers).unwrap();
        assert_eq!(n.host, "h\u{e9}");
        assert_eq!(cell(&n.rows[0].1.install_time), "1699999999");
        assert_eq!(cell(&n.rows[0].1.managed), "1");
        assert_eq!(cell(&n.rows[0].1.name), "a\"b");
    }

    #[test]
    fn malformed_lines() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"name":"q"}"#,
            r#"{"name":"q","hostIdentifier":"h","unixTime":1,"action":"exploded","columns":{}}"#,
            r#"{"name":"q","hostIdentifier":"h","unixTime":1,"snapshot":"x"}"#,
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
