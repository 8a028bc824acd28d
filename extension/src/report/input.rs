//! Reading osquery result logs: files, directories (every file below, in
//! name order), or standard input; plain or gzip (detected by its magic
//! bytes). Lines are handed over one at a time, so memory does not grow with
//! the size of the logs.
//!
//! Three formats, as osquery's filesystem logger and log pipelines write
//! them: event format (one row per line with `action` added/removed), batch
//! format (`diffResults` with `added` and `removed` lists) and snapshot
//! format (`snapshot` list, `action` snapshot).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde_json::{Map, Value};

/// Largest line accepted; longer ones count as malformed.
const MAX_LINE: usize = 16 << 20;
const MAX_FILES: usize = 100_000;

/// What a result line says happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Added,
    Removed,
    Snapshot,
}

/// One row of one query result.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub host: String,
    /// The query's name without pack prefixes (`pack/postern-x/q` -> `q`).
    pub query: String,
    pub time: i64,
    pub action: Action,
    pub row: Map<String, Value>,
    /// `decorations.platform` or similar, when the log has it.
    pub platform: Option<String>,
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

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses one log line into its events. Pure.
pub fn parse_line(line: &str) -> Result<Vec<Event>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(obj) = value else {
        return Err("not a JSON object".into());
    };
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("no \"name\"")?;
    let host = text(obj.get("hostIdentifier"))
        .or_else(|| text(obj.get("host_identifier")))
        .ok_or("no \"hostIdentifier\"")?;
    let time = obj
        .get("unixTime")
        .and_then(|t| {
            t.as_i64()
                .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or("no \"unixTime\"")?;
    let decorations = obj.get("decorations").and_then(Value::as_object);
    let platform =
        decorations.and_then(|d| text(d.get("platform")).or_else(|| text(d.get("os_platform"))));
    let query = short_name(name).to_string();
    let event = |action, row: &Map<String, Value>| Event {
        host: host.clone(),
        query: query.clone(),
        time,
        action,
        row: row.clone(),
        platform: platform.clone(),
    };
    let rows = |v: Option<&Value>| -> Result<Vec<Map<String, Value>>, String> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_object()
                        .cloned()
                        .ok_or_else(|| "a row is not an object".to_string())
                })
                .collect(),
            Some(_) => Err("rows are not a list".into()),
        }
    };
    if let Some(diff) = obj.get("diffResults") {
        let mut out: Vec<Event> = rows(diff.get("removed"))?
            .iter()
            .map(|r| event(Action::Removed, r))
            .collect();
        out.extend(
            rows(diff.get("added"))?
                .iter()
                .map(|r| event(Action::Added, r)),
        );
        return Ok(out);
    }
    if obj.contains_key("snapshot") {
        return Ok(rows(obj.get("snapshot"))?
            .iter()
            .map(|r| event(Action::Snapshot, r))
            .collect());
    }
    let action = match obj.get("action").and_then(Value::as_str) {
        Some("added") => Action::Added,
        Some("removed") => Action::Removed,
        Some("snapshot") => Action::Snapshot,
        other => return Err(format!("unknown action {other:?}")),
    };
    let columns = obj
        .get("columns")
        .and_then(Value::as_object)
        .ok_or("no \"columns\"")?;
    Ok(vec![event(action, columns)])
}

/// The files to read: each path itself, or every file below a directory.
pub fn expand(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" || !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut stack = vec![p.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries.into_iter().rev() {
                let meta = std::fs::symlink_metadata(&e)?;
                if meta.is_dir() {
                    stack.push(e);
                } else if meta.is_file() && out.len() < MAX_FILES {
                    out.push(e);
                }
            }
        }
    }
    Ok(out)
}

/// Opens a source, decompressing gzip.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let mut reader = BufReader::with_capacity(256 * 1024, raw);
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

/// Feeds every line of a reader to `on_line` (line number, text); lines
/// over the size limit or not UTF-8 are reported as `Err`.
pub fn for_each_line(
    reader: &mut dyn BufRead,
    on_line: &mut dyn FnMut(usize, Result<&str, String>),
) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(4096);
    let mut n = 0usize;
    let mut bytes = 0u64;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(bytes);
        }
        bytes += read as u64;
        n += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > MAX_LINE {
            on_line(n, Err(format!("line longer than {MAX_LINE} bytes")));
        } else {
            match std::str::from_utf8(line) {
                Ok(s) => on_line(n, Ok(s)),
                Err(e) => on_line(n, Err(format!("not UTF-8: {e}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_formats() {
        let event = r#"{"name":"pack/postern-control-health/postern_control_status","hostIdentifier":"h1","calendarTime":"x","unixTime":1700000000,"epoch":0,"counter":1,"numerics":false,"decorations":{"platform":"ubuntu"},"columns":{"control":"edr","status":"fail"},"action":"added"}"#;
        let e = parse_line(event).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].query.as_str(), e[0].action, e[0].platform.as_deref()),
            ("postern_control_status", Action::Added, Some("ubuntu"))
        );
        let batch = r#"{"name":"pack_postern-remote-access_postern_remote_access_unapproved","hostIdentifier":"h2","unixTime":"1700000100","diffResults":{"added":[{"tool_id":"anydesk"}],"removed":[{"tool_id":"teamviewer"},{"tool_id":"x"}]}}"#;
        let b = parse_line(batch).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].action, Action::Removed);
        assert_eq!(b[2].query, "postern_remote_access_unapproved");
        let snap = r#"{"name":"postern_control_snapshot","hostIdentifier":"h3","unixTime":1700000200,"snapshot":[{"control":"edr","status":"pass"}],"action":"snapshot"}"#;
        assert_eq!(parse_line(snap).unwrap()[0].action, Action::Snapshot);
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
