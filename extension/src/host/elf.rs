//! The package an ELF executable says it was built for: the `.note.package`
//! note of the ELF package metadata specification (systemd.io), which
//! Fedora, RHEL and other distributions put in every binary they build:
//! owner `FDO`, type `0xcafe1a7e`, a JSON description such as
//! `{"type":"rpm","name":"tigervnc-server","version":"1.13.1-1.fc39"}`.
//! A copy renamed and moved anywhere still names its package.
//!
//! Parsing is pure and bounded; the reader takes the ELF header, the
//! program headers and the `PT_NOTE` segments only.

use std::os::unix::fs::FileExt;

const PT_NOTE: u32 = 4;
const NOTE_TYPE_PACKAGE: u32 = 0xcafe_1a7e;
/// Most program headers read, and most bytes of one note segment.
const MAX_PHDRS: usize = 256;
const MAX_NOTE_SEGMENT: u64 = 64 * 1024;

/// The package a binary names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageNote {
    /// `rpm`, `deb`, ... as the note says.
    pub kind: String,
    pub name: String,
    pub version: Option<String>,
}

#[derive(Clone, Copy)]
struct Layout {
    wide: bool,
    little: bool,
}

impl Layout {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        })
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }
    fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let raw: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if self.little {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        })
    }
    /// An address-sized field.
    fn word(self, b: &[u8], at: usize) -> Option<u64> {
        if self.wide {
            self.u64(b, at)
        } else {
            self.u32(b, at).map(u64::from)
        }
    }
}

fn layout(header: &[u8]) -> Option<Layout> {
    if header.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match header.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match header.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    Some(Layout { wide, little })
}

/// `(offset, size)` of the `PT_NOTE` segments, from the ELF header (its
/// first 64 bytes) and a reader of the program header table. Pure but for
/// `read`.
fn note_segments(
    header: &[u8],
    read: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>,
) -> Option<(Layout, Vec<(u64, u64)>)> {
    let l = layout(header)?;
    let (phoff, phentsize, phnum) = if l.wide {
        (l.u64(header, 32)?, l.u16(header, 54)?, l.u16(header, 56)?)
    } else {
        (
            u64::from(l.u32(header, 28)?),
            l.u16(header, 42)?,
            l.u16(header, 44)?,
        )
    };
    let entry = usize::from(phentsize);
    let count = usize::from(phnum).min(MAX_PHDRS);
    let least = if l.wide { 56 } else { 32 };
    if entry < least || entry > 2 * least || count == 0 {
        return Some((l, Vec::new()));
    }
    let table = read(phoff, entry * count)?;
    let mut out = Vec::new();
    for i in 0..count {
        let at = i * entry;
        if l.u32(&table, at)? != PT_NOTE {
            continue;
        }
        let (offset, size) = if l.wide {
            (l.word(&table, at + 8)?, l.word(&table, at + 32)?)
        } else {
            (l.word(&table, at + 4)?, l.word(&table, at + 16)?)
        };
        out.push((offset, size.min(MAX_NOTE_SEGMENT)));
    }
    Some((l, out))
}

/// The package note in one note segment, if any. Pure.
fn package_in_segment(l: Layout, segment: &[u8]) -> Option<PackageNote> {
    let pad = |n: usize| n.checked_add(3).map(|v| v & !3);
    let mut at = 0usize;
    while at + 12 <= segment.len() {
        let namesz = l.u32(segment, at)? as usize;
        let descsz = l.u32(segment, at + 4)? as usize;
        let kind = l.u32(segment, at + 8)?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(pad(namesz)?)?;
        let next = desc_at.checked_add(pad(descsz)?)?;
        let name = segment.get(name_at..name_at + namesz)?;
        if kind == NOTE_TYPE_PACKAGE && name == b"FDO\0" {
            let desc = segment.get(desc_at..desc_at.checked_add(descsz)?)?;
            return parse_package_json(desc);
        }
        at = next;
    }
    None
}

/// The JSON of a package note (NUL-terminated or not). Pure.
pub fn parse_package_json(desc: &[u8]) -> Option<PackageNote> {
    let end = desc.iter().position(|b| *b == 0).unwrap_or(desc.len());
    let value: serde_json::Value = serde_json::from_slice(desc.get(..end)?).ok()?;
    let text = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let name = text("name").filter(|n| !n.is_empty())?;
    Some(PackageNote {
        kind: text("type").unwrap_or_default(),
        name,
        version: text("version"),
    })
}

/// The package note of an open ELF file, with positioned reads (the file's
/// cursor is untouched). `None` for anything else or a binary without one.
pub fn package_note(file: &std::fs::File) -> Option<PackageNote> {
    let mut read = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(buf.get_mut(filled..)?, offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        buf.truncate(filled);
        Some(buf)
    };
    let header = read(0, 64)?;
    let (l, segments) = note_segments(&header, &mut read)?;
    segments.into_iter().find_map(|(offset, size)| {
        let segment = read(offset, usize::try_from(size).ok()?)?;
        package_in_segment(l, &segment)
    })
}

/// A minimal 64-bit little-endian ELF file with one `PT_NOTE` segment
/// holding a package note, for tests here and elsewhere.
#[doc(hidden)]
pub fn test_binary(json: &str) -> Vec<u8> {
    let mut note = Vec::new();
    let desc = json.as_bytes();
    for v in [4u32, desc.len() as u32 + 1, NOTE_TYPE_PACKAGE] {
        note.extend_from_slice(&v.to_le_bytes());
    }
    note.extend_from_slice(b"FDO\0");
    note.extend_from_slice(desc);
    note.push(0);
    while note.len() % 4 != 0 {
        note.push(0);
    }
    let mut out = b"\x7fELF\x02\x01\x01".to_vec();
    out.resize(16, 0);
    out.extend_from_slice(&2u16.to_le_bytes()); // e_type
    out.extend_from_slice(&62u16.to_le_bytes()); // e_machine
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    out.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [64u16, 56, 1, 0, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&PT_NOTE.to_le_bytes()); // p_type
    out.extend_from_slice(&4u32.to_le_bytes()); // p_flags
    let note_at = 64 + 56;
    for v in [note_at, 0, 0, note.len() as u64, note.len() as u64, 4] {
        // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&note);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn note_of(bytes: &[u8]) -> Option<PackageNote> {
        let mut file = tempfile::tempfile().ok()?;
        file.write_all(bytes).ok()?;
        package_note(&file)
    }

    #[test]
    fn reads_the_package_a_binary_was_built_for() {
        let elf = test_binary(
            r#"{"type":"rpm","name":"tigervnc-server","version":"1.13.1-1.fc39","architecture":"x86_64"}"#,
        );
        assert_eq!(
            note_of(&elf),
            Some(PackageNote {
                kind: "rpm".into(),
                name: "tigervnc-server".into(),
                version: Some("1.13.1-1.fc39".into()),
            })
        );
    }

    #[test]
    fn anything_else_is_none_not_a_panic() {
        let elf = test_binary(r#"{"type":"rpm","name":"x"}"#);
        for cut in 0..elf.len() {
            let _ = note_of(&elf[..cut]);
        }
        assert_eq!(note_of(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(note_of(&test_binary("not json")), None);
        assert_eq!(note_of(&test_binary(r#"{"type":"rpm"}"#)), None);
        // Huge counts and sizes are bounded, not allocated.
        let mut bogus = test_binary(r#"{"name":"x"}"#);
        bogus[56..58].copy_from_slice(&u16::MAX.to_le_bytes());
        let _ = note_of(&bogus);
        let mut bogus = test_binary(r#"{"name":"x"}"#);
        bogus[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        let _ = note_of(&bogus);
        let mut bogus = test_binary(r#"{"name":"x"}"#);
        bogus[120..124].copy_from_slice(&u32::MAX.to_le_bytes());
        let _ = note_of(&bogus);
    }
}
