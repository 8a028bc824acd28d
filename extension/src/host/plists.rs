//! Property lists from files a user may have written, parsed without
//! letting them crash the process. The `plist` crate parses nested arrays
//! and dictionaries (and the object references of a binary plist)
//! recursively: a 350 KB file nested 50,000 deep overflows a worker
//! thread's stack, and a stack overflow aborts the whole extension. So the
//! nesting is measured first, without recursion, and a file nested deeper
//! than [`MAX_DEPTH`] (real ones are a few levels deep) is refused.

use std::io::Cursor;

/// Deepest nesting of arrays and dictionaries accepted.
pub const MAX_DEPTH: usize = 128;

/// Parses an XML or binary property list whose nesting is at most
/// [`MAX_DEPTH`].
pub fn parse(bytes: &[u8]) -> Result<plist::Value, String> {
    let depth = if bytes.starts_with(b"bplist00") {
        binary_depth(bytes)?
    } else {
        xml_depth(bytes)
    };
    if depth > MAX_DEPTH {
        return Err(format!(
            "a property list nested {depth} deep (more than {MAX_DEPTH}) is refused"
        ));
    }
    plist::Value::from_reader(Cursor::new(bytes)).map_err(|e| e.to_string())
}

/// The deepest nesting of `<array>` and `<dict>` elements in an XML plist
/// (an empty `<array/>` is a level that holds nothing). A tag name inside a comment counts too,
/// which can only make a file look deeper. Pure.
pub fn xml_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = bytes.get(i..).and_then(|rest| memchr::memchr(b'<', rest)) {
        let at = i + off + 1;
        let rest = bytes.get(at..).unwrap_or(&[]);
        let (closing, name) = match rest.first() {
            Some(b'/') => (true, rest.get(1..).unwrap_or(&[])),
            _ => (false, rest),
        };
        let container = name.starts_with(b"array") || name.starts_with(b"dict");
        if container {
            if closing {
                depth = depth.saturating_sub(1);
            } else {
                let end = memchr::memchr(b'>', name).unwrap_or(name.len());
                let self_closing = end > 0 && name.get(end - 1) == Some(&b'/');
                // An empty container is one level, holding nothing.
                max = max.max(depth + 1);
                if !self_closing {
                    depth += 1;
                }
            }
        }
        i = at;
    }
    max
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// The deepest nesting of containers reachable from a binary plist's top
/// object, following object references without recursion; a reference
/// cycle is an error. Pure.
pub fn binary_depth(bytes: &[u8]) -> Result<usize, String> {
    let bad = || "not a valid binary property list".to_string();
    let trailer = bytes
        .len()
        .checked_sub(32)
        .and_then(|t| bytes.get(t..))
        .ok_or_else(bad)?;
    let offset_size = usize::from(*trailer.get(6).ok_or_else(bad)?);
    let ref_size = usize::from(*trailer.get(7).ok_or_else(bad)?);
    let count = be(trailer.get(8..16).ok_or_else(bad)?);
    let top = be(trailer.get(16..24).ok_or_else(bad)?);
    let table = be(trailer.get(24..32).ok_or_else(bad)?);
    if !(1..=8).contains(&offset_size) || !(1..=8).contains(&ref_size) || top >= count {
        return Err(bad());
    }
    // Every object has an offset-table entry in the file: bounds the count.
    let count = usize::try_from(count).map_err(|_| bad())?;
    if count > bytes.len() {
        return Err(bad());
    }
    let table = usize::try_from(table).map_err(|_| bad())?;
    let offset_of = |obj: usize| -> Option<usize> {
        let at = table.checked_add(obj.checked_mul(offset_size)?)?;
        usize::try_from(be(bytes.get(at..at.checked_add(offset_size)?)?)).ok()
    };
    // The child references of a container object (empty for scalars).
    let children = |obj: usize| -> Result<Vec<usize>, String> {
        let off = offset_of(obj).ok_or_else(bad)?;
        let marker = *bytes.get(off).ok_or_else(bad)?;
        let kind = marker >> 4;
        if !matches!(kind, 0xA | 0xC | 0xD) {
            return Ok(Vec::new());
        }
        let mut at = off + 1;
        let mut n = usize::from(marker & 0x0F);
        if n == 0x0F {
            let int_marker = *bytes.get(at).ok_or_else(bad)?;
            if int_marker >> 4 != 0x1 {
                return Err(bad());
            }
            let len = 1usize << (int_marker & 0x0F).min(3);
            n = usize::try_from(be(bytes.get(at + 1..at + 1 + len).ok_or_else(bad)?))
                .map_err(|_| bad())?;
            at += 1 + len;
        }
        let refs = if kind == 0xD {
            n.checked_mul(2).ok_or_else(bad)?
        } else {
            n
        };
        let span = refs.checked_mul(ref_size).ok_or_else(bad)?;
        let raw = bytes
            .get(at..at.checked_add(span).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        raw.chunks(ref_size)
            .map(|r| {
                usize::try_from(be(r))
                    .ok()
                    .filter(|c| *c < count)
                    .ok_or_else(bad)
            })
            .collect()
    };
    // Iterative depth-first walk: depth[obj] once done, a mark while open.
    const OPEN: usize = usize::MAX;
    let mut depth: Vec<Option<usize>> = vec![None; count];
    let top = usize::try_from(top).map_err(|_| bad())?;
    let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    let first = children(top)?;
    if let Some(d) = depth.get_mut(top) {
        *d = Some(OPEN);
    }
    stack.push((top, first, 0));
    loop {
        let Some(frame) = stack.last_mut() else {
            return Ok(0);
        };
        match frame.1.pop() {
            Some(next) => match depth.get(next).copied().flatten() {
                Some(OPEN) => {
                    return Err("a binary property list whose objects refer to themselves".into())
                }
                Some(d) => frame.2 = frame.2.max(d),
                None => {
                    let grand = children(next)?;
                    if let Some(d) = depth.get_mut(next) {
                        *d = Some(OPEN);
                    }
                    stack.push((next, grand, 0));
                    if stack.len() > MAX_DEPTH + 1 {
                        return Ok(stack.len());
                    }
                }
            },
            None => {
                let (obj, best) = (frame.0, frame.2);
                let mine = if is_container(bytes, offset_of(obj)) {
                    best + 1
                } else {
                    0
                };
                if let Some(d) = depth.get_mut(obj) {
                    *d = Some(mine);
                }
                stack.pop();
                match stack.last_mut() {
                    Some(parent) => parent.2 = parent.2.max(mine),
                    None => return Ok(mine),
                }
            }
        }
    }
}

fn is_container(bytes: &[u8], off: Option<usize>) -> bool {
    off.and_then(|o| bytes.get(o))
        .is_some_and(|m| matches!(m >> 4, 0xA | 0xC | 0xD))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn nested_xml(depth: usize) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\"?><plist version=\"1.0\">{}{}</plist>",
            "<array>".repeat(depth),
            "</array>".repeat(depth)
        )
        .into_bytes()
    }

    #[test]
    fn ordinary_plists_parse() {
        let xml = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>a</key><array><string>x</string><array/></array><key>b</key><dict/></dict></plist>";
        assert_eq!(xml_depth(xml), 3);
        let v = parse(xml).unwrap();
        let mut bin = Vec::new();
        v.to_writer_binary(&mut bin).unwrap();
        assert_eq!(binary_depth(&bin).unwrap(), 3);
        assert_eq!(parse(&bin).unwrap(), v);
        let mut scalar = Vec::new();
        plist::Value::String("x".into())
            .to_writer_binary(&mut scalar)
            .unwrap();
        assert_eq!(binary_depth(&scalar).unwrap(), 0);
    }

    /// Deep nesting is refused before the recursive parser sees it, in a
    /// thread with the small stack a table worker has.
    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let handle = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| {
                let xml = nested_xml(200_000);
                assert!(parse(&xml).unwrap_err().contains("nested"));
                // The same depth as a binary plist, built by hand: each
                // array holds the next.
                let n = 100_000usize;
                let mut bin = b"bplist00".to_vec();
                let mut offsets = Vec::new();
                for i in 0..n {
                    offsets.push(bin.len());
                    if i + 1 < n {
                        bin.push(0xA1);
                        bin.extend_from_slice(&((i + 1) as u32).to_be_bytes());
                    } else {
                        bin.push(0xA0);
                    }
                }
                let table = bin.len();
                for o in &offsets {
                    bin.extend_from_slice(&(*o as u32).to_be_bytes());
                }
                bin.extend_from_slice(&[0, 0, 0, 0, 0, 0, 4, 4]);
                bin.extend_from_slice(&(n as u64).to_be_bytes());
                bin.extend_from_slice(&0u64.to_be_bytes());
                bin.extend_from_slice(&(table as u64).to_be_bytes());
                assert!(parse(&bin).unwrap_err().contains("nested"));
                // A cycle: the array holds itself.
                let mut cyc = b"bplist00".to_vec();
                cyc.extend_from_slice(&[0xA1, 0]);
                let t = cyc.len();
                cyc.push(8);
                cyc.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 1]);
                cyc.extend_from_slice(&1u64.to_be_bytes());
                cyc.extend_from_slice(&0u64.to_be_bytes());
                cyc.extend_from_slice(&(t as u64).to_be_bytes());
                assert!(parse(&cyc).is_err());
            })
            .unwrap();
        handle.join().unwrap();
        assert!(parse(&nested_xml(100)).is_ok());
        assert!(parse(b"bplist00garbage").is_err());
    }
}
