//! Parsing result logs on several cores while the analysis stays in order.
//!
//! The reader cuts the input into chunks of whole lines (about 1 MiB). Worker
//! threads parse chunks into [`Parsed`]: the few strings the report reads,
//! copied into one buffer per chunk, and the rows that point into it. The
//! analysis takes the parsed chunks back in input order, so every host's
//! results are applied in the order they were logged. In flight at once: two
//! chunks per worker, so memory stays a few MiB whatever the input.

use std::borrow::Cow;
use std::io::{self, BufRead};
use std::sync::mpsc;
use std::thread;

use super::input::{self, Action, Line, Row, Text};

/// Bytes of whole lines handed to a worker at a time.
const CHUNK: usize = 1 << 20;
/// Chunks queued per worker.
const DEPTH: usize = 2;

/// Where a string sits in a chunk's buffer.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Debug)]
struct ParsedRow {
    action: Action,
    cells: [Option<Span>; crate::report::input::CELLS],
}

#[derive(Debug)]
struct ParsedLine {
    host: Span,
    query: Span,
    time: i64,
    platform: Option<Span>,
    rows: std::ops::Range<usize>,
}

/// One chunk, parsed: its lines in order, each a result or why not.
#[derive(Debug, Default)]
pub struct Parsed {
    text: String,
    lines: Vec<(usize, Result<ParsedLine, String>)>,
    rows: Vec<ParsedRow>,
    /// Lines with something on them (blank lines are not counted).
    pub counted: u64,
}

impl Parsed {
    fn keep(&mut self, s: &str) -> Span {
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.text.push_str(s);
        Span {
            start,
            len: u32::try_from(s.len()).unwrap_or(u32::MAX),
        }
    }

    fn get(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.text
            .get(start..start + span.len as usize)
            .unwrap_or("")
    }

    fn push(&mut self, n: usize, line: Result<Line<'_>, String>) {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                self.lines.push((n, Err(e)));
                return;
            }
        };
        let first = self.rows.len();
        for (action, row) in &line.rows {
            let mut cells = [None; crate::report::input::CELLS];
            for (slot, cell) in cells.iter_mut().zip(row.cells()) {
                *slot = cell.map(|t| self.keep(t.as_str()));
            }
            self.rows.push(ParsedRow {
                action: *action,
                cells,
            });
        }
        let parsed = ParsedLine {
            host: self.keep(&line.host),
            query: self.keep(&line.query),
            time: line.time,
            platform: line.platform.as_deref().map(|p| self.keep(p)),
            rows: first..self.rows.len(),
        };
        self.lines.push((n, Ok(parsed)));
    }

    /// The chunk's lines in order: (line number, parsed line or error).
    pub fn lines(&self) -> impl Iterator<Item = (usize, Result<Line<'_>, &str>)> {
        self.lines.iter().map(|(n, line)| {
            let line = match line {
                Err(e) => Err(e.as_str()),
                Ok(l) => Ok(Line {
                    host: Cow::Borrowed(self.get(l.host)),
                    query: Cow::Borrowed(self.get(l.query)),
                    time: l.time,
                    platform: l.platform.map(|p| Cow::Borrowed(self.get(p))),
                    rows: self
                        .rows
                        .get(l.rows.clone())
                        .unwrap_or_default()
                        .iter()
                        .map(|r| {
                            let cell = |i: usize| {
                                r.cells
                                    .get(i)
                                    .copied()
                                    .flatten()
                                    .map(|s| Text(Cow::Borrowed(self.get(s))))
                            };
                            (r.action, Row::from_cells(cell))
                        })
                        .collect(),
                }),
            };
            (*n, line)
        })
    }
}

/// Parses a chunk of whole lines whose first line is number `first`. Pure.
pub fn parse(first: usize, bytes: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for (i, end) in ends.enumerate() {
        let line = body.get(start..end).unwrap_or_default();
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.counted += 1;
        let text = input::line_text(line);
        out.push(first + i, text.and_then(input::parse_line));
    }
    out
}

/// Reads the next chunk of whole lines into `chunk` (cleared first) and
/// returns the bytes it read, or `None` at the end of the input. The last
/// line may lack its newline. A line over [`input::MAX_LINE`] keeps only its
/// first `MAX_LINE + 1` bytes, enough for the parser to call it too long, so
/// no line can take all memory.
fn next_chunk(reader: &mut dyn BufRead, chunk: &mut Vec<u8>) -> io::Result<Option<u64>> {
    chunk.clear();
    let mut read = 0u64;
    while chunk.len() < CHUNK {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((!chunk.is_empty()).then_some(read));
        }
        let n = buf.len();
        chunk.extend_from_slice(buf);
        reader.consume(n);
        read += n as u64;
    }
    // Finish the line under way, keeping at most MAX_LINE + 1 bytes of it.
    let start = memchr::memrchr(b'\n', chunk).map_or(0, |i| i + 1);
    if start == chunk.len() {
        return Ok(Some(read));
    }
    let limit = start + input::MAX_LINE + 1;
    chunk.truncate(limit);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Some(read));
        }
        let end = memchr::memchr(b'\n', buf);
        let take = end.unwrap_or(buf.len());
        let room = limit.saturating_sub(chunk.len());
        chunk.extend_from_slice(buf.get(..take.min(room)).unwrap_or_default());
        let n = end.map_or(buf.len(), |i| i + 1);
        reader.consume(n);
        read += n as u64;
        if end.is_some() {
            chunk.push(b'\n');
            return Ok(Some(read));
        }
    }
}

/// Lines in a chunk, counting the last one without a newline.
fn count_lines(chunk: &[u8]) -> usize {
    let newlines = memchr::memchr_iter(b'\n', chunk).count();
    newlines + usize::from(chunk.last().is_some_and(|b| *b != b'\n'))
}

/// Reads `reader` to its end, parses its chunks on `workers` threads (none:
/// on this one) and hands each parsed chunk to `apply` in input order.
/// Returns the bytes read.
pub fn each_parsed(
    reader: &mut dyn BufRead,
    workers: usize,
    apply: &mut dyn FnMut(&Parsed),
) -> io::Result<u64> {
    let mut bytes = 0u64;
    let mut next_line = 1usize;
    let mut chunk = Vec::with_capacity(CHUNK + (CHUNK >> 2));
    if workers == 0 {
        while let Some(read) = next_chunk(reader, &mut chunk)? {
            bytes += read;
            apply(&parse(next_line, &chunk));
            next_line += count_lines(&chunk);
        }
        return Ok(bytes);
    }
    thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(DEPTH);
            let (done_tx, done_rx) = mpsc::sync_channel::<(Parsed, Vec<u8>)>(DEPTH);
            scope.spawn(move || {
                for (first, chunk) in rx {
                    let parsed = parse(first, &chunk);
                    if done_tx.send((parsed, chunk)).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(tx);
            from_workers.push(done_rx);
        }
        // Chunk i goes to worker i % workers and comes back from it in turn.
        let (mut sent, mut applied) = (0usize, 0usize);
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let mut receive = |applied: &mut usize, spare: &mut Vec<Vec<u8>>| {
            let from = from_workers.get(*applied % workers);
            if let Some(Ok((parsed, buf))) = from.map(mpsc::Receiver::recv) {
                apply(&parsed);
                spare.push(buf);
            }
            *applied += 1;
        };
        let result = loop {
            let mut buf = spare.pop().unwrap_or_default();
            match next_chunk(reader, &mut buf) {
                Ok(Some(read)) => bytes += read,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
            let lines = count_lines(&buf);
            if sent - applied >= workers * DEPTH {
                receive(&mut applied, &mut spare);
            }
            if let Some(tx) = to_workers.get(sent % workers) {
                // A worker only stops when its channel closes.
                let _ = tx.send((next_line, buf));
            }
            next_line += lines;
            sent += 1;
        };
        while applied < sent {
            receive(&mut applied, &mut spare);
        }
        drop(to_workers);
        result.map(|()| bytes)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::report::input::cell;

    fn collect(text: &[u8], workers: usize) -> (Vec<(usize, String)>, u64, u64) {
        let mut seen = Vec::new();
        let mut counted = 0;
        let bytes = each_parsed(&mut &text[..], workers, &mut |p| {
            counted += p.counted;
            for (n, line) in p.lines() {
                seen.push((
                    n,
                    match line {
                        Ok(l) => format!("{} {} {}", l.host, l.query, cell(&l.rows[0].1.status)),
                        Err(e) => format!("error {e}"),
                    },
                ));
            }
        })
        .unwrap();
        (seen, counted, bytes)
    }

    #[test]
    fn chunks_keep_order_and_line_numbers_with_any_number_of_workers() {
        let mut text = Vec::new();
        let mut want = Vec::new();
        let mut n = 0;
        // Enough lines for several chunks, escapes, a blank and a garbage line.
        for i in 0..40_000 {
            n += 1;
            if i % 997 == 0 {
                text.extend_from_slice(b"{\"truncated\": \n");
                want.push(n);
                continue;
            }
            if i % 1_001 == 0 {
                text.extend_from_slice(b"   \n");
                continue;
            }
            let line = format!(
                r#"{{"name":"pack/p/postern_control_status","hostIdentifier":"h\u00e9{i}","unixTime":{i},"columns":{{"control":"edr","status":"s{i}"}},"action":"added"}}"#
            );
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        text.extend_from_slice(b"{\"no\": \"newline at the end\"}");
        let (one, counted, bytes) = collect(&text, 0);
        assert_eq!(bytes, text.len() as u64);
        assert_eq!(one.len() as u64, counted);
        for workers in [1, 2, 3] {
            assert_eq!(collect(&text, workers).0, one, "{workers} workers");
        }
        let errors: Vec<usize> = one
            .iter()
            .filter(|(_, s)| s.starts_with("error"))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(&errors[..want.len()], &want[..]);
        assert_eq!(*errors.last().unwrap(), n + 1, "the unterminated last line");
        let (line, text) = &one[1];
        assert_eq!(
            (*line, text.as_str()),
            (2, "h\u{e9}1 postern_control_status s1")
        );
    }

    #[test]
    fn a_line_over_the_limit_is_cut_and_reported_and_the_next_survives() {
        let huge = format!(
            "{{\"x\": \"{}\"}}\n",
            "a".repeat(input::MAX_LINE + 5 * CHUNK)
        );
        let good = r#"{"name":"postern_control_status","hostIdentifier":"h","unixTime":1,"columns":{"status":"pass"},"action":"added"}"#;
        let text = format!("{good}\n{huge}{good}\n");
        let (seen, counted, bytes) = collect(text.as_bytes(), 1);
        assert_eq!(bytes, text.len() as u64);
        assert_eq!(counted, 3);
        assert_eq!(seen[1].0, 2);
        assert!(seen[1].1.contains("longer than"), "{seen:?}");
        assert_eq!(
            (seen[2].0, seen[2].1.as_str()),
            (3, "h postern_control_status pass")
        );
    }

    #[test]
    fn a_line_longer_than_a_chunk_stays_whole() {
        let long = format!("{{\"x\": \"{}\"}}\n", "a".repeat(3 * CHUNK));
        let text = format!("{long}{long}");
        let (seen, counted, _) = collect(text.as_bytes(), 2);
        assert_eq!(counted, 2);
        assert_eq!(seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2]);
    }
}
