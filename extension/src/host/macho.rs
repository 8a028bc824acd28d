//! Who signed a Mach-O executable: the signing identifier and the Apple
//! Developer Team ID in its code signature's CodeDirectory.
//!
//! A bundle's `Info.plist` is a text file anyone can edit; the identity in
//! the signature cannot be changed without breaking the signature (or
//! removing it, which is itself telling). The parsers are pure and bounded;
//! layouts follow Apple's `mach-o/loader.h`, `mach-o/fat.h` and the code
//! signing blob formats of `xnu`'s `osfmk/kern/cs_blobs.h`.

use std::io::{Read, Seek, SeekFrom};

use crate::root::{HostError, HostRoot};

const FAT_MAGIC: u32 = 0xcafe_babe;
const FAT_MAGIC_64: u32 = 0xcafe_babf;
const MH_MAGIC: u32 = 0xfeed_face;
const MH_MAGIC_64: u32 = 0xfeed_facf;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE: u32 = 0xfade_0cc0;
const CSMAGIC_CODEDIRECTORY: u32 = 0xfade_0c02;
const CSSLOT_CODEDIRECTORY: u32 = 0;
const CSSLOT_ALTERNATE_CODEDIRECTORIES: u32 = 0x1000;
/// First CodeDirectory version with a team identifier.
const CS_SUPPORTSTEAMID: u32 = 0x20200;

/// Most architectures read from a universal binary.
const MAX_SLICES: usize = 8;
/// Most bytes of load commands and of a signature read.
const MAX_COMMANDS: u32 = 1 << 20;
const MAX_SIGNATURE: u32 = 4 << 20;

/// The identity a code signature gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signature {
    /// The signing identifier (usually the bundle id).
    pub identifier: Option<String>,
    /// The Apple Developer Team ID (10 characters); absent for ad-hoc and
    /// Apple's own platform signatures.
    pub team_id: Option<String>,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Offsets of the architectures in a file starting with `head`: one slice
/// at 0 for a thin Mach-O, each slice of a universal binary, none for
/// anything else. Pure.
pub fn slices(head: &[u8]) -> Vec<u64> {
    match be32(head, 0) {
        Some(FAT_MAGIC) | Some(FAT_MAGIC_64) => {
            let wide = be32(head, 0) == Some(FAT_MAGIC_64);
            let count = be32(head, 4).unwrap_or(0) as usize;
            let entry = if wide { 32 } else { 20 };
            (0..count.min(MAX_SLICES))
                .filter_map(|i| {
                    let at = 8 + i * entry;
                    if wide {
                        let hi = be32(head, at + 8)? as u64;
                        let lo = be32(head, at + 12)? as u64;
                        Some(hi << 32 | lo)
                    } else {
                        be32(head, at + 8).map(u64::from)
                    }
                })
                .collect()
        }
        _ => match le32(head, 0) {
            Some(MH_MAGIC) | Some(MH_MAGIC_64) => vec![0],
            _ => Vec::new(),
        },
    }
}

/// Size of the Mach-O header and of its load commands, from the header's
/// first 32 bytes. Pure.
pub fn commands_extent(header: &[u8]) -> Option<(usize, u32)> {
    let header_len = match le32(header, 0)? {
        MH_MAGIC => 28,
        MH_MAGIC_64 => 32,
        _ => return None,
    };
    let size = le32(header, 20)?;
    (size <= MAX_COMMANDS).then_some((header_len, size))
}

/// `(dataoff, datasize)` of `LC_CODE_SIGNATURE` in load commands. Pure.
pub fn code_signature_location(commands: &[u8], ncmds_hint: usize) -> Option<(u32, u32)> {
    let mut at = 0usize;
    for _ in 0..ncmds_hint.clamp(1, 4096) {
        let cmd = le32(commands, at)?;
        let size = le32(commands, at + 4)? as usize;
        if cmd == LC_CODE_SIGNATURE {
            return Some((le32(commands, at + 8)?, le32(commands, at + 12)?));
        }
        if size < 8 {
            return None;
        }
        at = at.checked_add(size)?;
    }
    None
}

fn c_string(b: &[u8], at: usize) -> Option<String> {
    let rest = b.get(at..)?;
    let end = rest.iter().position(|c| *c == 0)?;
    let s = std::str::from_utf8(rest.get(..end)?).ok()?;
    (!s.is_empty()).then(|| s.to_string())
}

/// The identity in an embedded signature (a `SuperBlob`): from the first
/// CodeDirectory that names a team, else the first one. Pure.
pub fn parse_signature(blob: &[u8]) -> Option<Signature> {
    if be32(blob, 0)? != CSMAGIC_EMBEDDED_SIGNATURE {
        return None;
    }
    let count = be32(blob, 8)? as usize;
    let mut first = None;
    for i in 0..count.min(64) {
        let kind = be32(blob, 12 + i * 8)?;
        let offset = be32(blob, 16 + i * 8)? as usize;
        let is_directory = kind == CSSLOT_CODEDIRECTORY
            || (CSSLOT_ALTERNATE_CODEDIRECTORIES..CSSLOT_ALTERNATE_CODEDIRECTORIES + 5)
                .contains(&kind);
        if !is_directory {
            continue;
        }
        let Some(cd) = blob.get(offset..) else {
            continue;
        };
        if be32(cd, 0) != Some(CSMAGIC_CODEDIRECTORY) {
            continue;
        }
        let length = (be32(cd, 4)? as usize).min(cd.len());
        let cd = cd.get(..length)?;
        let version = be32(cd, 8)?;
        let identifier = be32(cd, 20).and_then(|o| c_string(cd, o as usize));
        let team_id = if version >= CS_SUPPORTSTEAMID {
            be32(cd, 48)
                .filter(|o| *o != 0)
                .and_then(|o| c_string(cd, o as usize))
        } else {
            None
        };
        let found = Signature {
            identifier,
            team_id,
        };
        if found.team_id.is_some() {
            return Some(found);
        }
        first.get_or_insert(found);
    }
    first
}

fn read_at(file: &mut std::fs::File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len.min(1 << 16));
    file.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The signature of the Mach-O file at `path` in the root (the first
/// architecture that has one), with bounded reads: `Ok(None)` for a file
/// that is not Mach-O or not signed.
pub fn signature(root: &HostRoot, path: &str) -> Result<Option<Signature>, HostError> {
    let mut file = root.open(path)?;
    let io = |e| HostError::io(path, e);
    let head = read_at(&mut file, 0, 8 + 32 * MAX_SLICES).map_err(io)?;
    for base in slices(&head) {
        let header = read_at(&mut file, base, 32).map_err(io)?;
        let Some((header_len, size)) = commands_extent(&header) else {
            continue;
        };
        let ncmds = le32(&header, 16).unwrap_or(0) as usize;
        let commands = read_at(&mut file, base + header_len as u64, size as usize).map_err(io)?;
        let Some((offset, len)) = code_signature_location(&commands, ncmds) else {
            continue;
        };
        if len > MAX_SIGNATURE {
            continue;
        }
        let blob = read_at(&mut file, base + u64::from(offset), len as usize).map_err(io)?;
        if let Some(found) = parse_signature(&blob) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Builds a signed thin 64-bit Mach-O in memory, for tests here and in the
/// scenarios.
#[doc(hidden)]
pub fn test_binary(identifier: &str, team_id: Option<&str>) -> Vec<u8> {
    // CodeDirectory: 52 bytes of fields, then the identifier and team id.
    let mut cd = vec![0u8; 52];
    let ident_at = cd.len();
    cd.extend_from_slice(identifier.as_bytes());
    cd.push(0);
    let team_at = cd.len();
    if let Some(team) = team_id {
        cd.extend_from_slice(team.as_bytes());
        cd.push(0);
    }
    let put = |b: &mut Vec<u8>, at: usize, v: u32| {
        if let Some(field) = b.get_mut(at..at + 4) {
            field.copy_from_slice(&v.to_be_bytes());
        }
    };
    let cd_len = cd.len() as u32;
    put(&mut cd, 0, CSMAGIC_CODEDIRECTORY);
    put(&mut cd, 4, cd_len);
    put(&mut cd, 8, CS_SUPPORTSTEAMID);
    put(&mut cd, 20, ident_at as u32);
    put(
        &mut cd,
        48,
        if team_id.is_some() { team_at as u32 } else { 0 },
    );
    // SuperBlob with one index entry.
    let mut sig = vec![0u8; 20];
    put(&mut sig, 0, CSMAGIC_EMBEDDED_SIGNATURE);
    put(&mut sig, 4, 20 + cd_len);
    put(&mut sig, 8, 1);
    put(&mut sig, 12, CSSLOT_CODEDIRECTORY);
    put(&mut sig, 16, 20);
    sig.extend_from_slice(&cd);
    // Header, one LC_CODE_SIGNATURE, then the signature.
    let sig_at = 32 + 16;
    let mut out = Vec::new();
    for v in [MH_MAGIC_64, 0x0100_000c, 0, 2, 1, 16, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [LC_CODE_SIGNATURE, 16, sig_at as u32, sig.len() as u32] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&sig);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Option<Signature> {
        let base = *slices(bytes).first()? as usize;
        let (header_len, size) = commands_extent(bytes.get(base..)?)?;
        let ncmds = le32(bytes, base + 16)? as usize;
        let commands = bytes.get(base + header_len..base + header_len + size as usize)?;
        let (offset, len) = code_signature_location(commands, ncmds)?;
        let start = base + offset as usize;
        parse_signature(bytes.get(start..start.checked_add(len as usize)?)?)
    }

    #[test]
    fn reads_identifier_and_team_of_thin_and_universal_binaries() {
        let thin = test_binary("com.philandro.anydesk", Some("KHRWM533LU"));
        let want = Signature {
            identifier: Some("com.philandro.anydesk".into()),
            team_id: Some("KHRWM533LU".into()),
        };
        assert_eq!(parse(&thin), Some(want.clone()));
        // A universal binary with the thin one as its only slice at 4096.
        let mut fat = Vec::new();
        for v in [FAT_MAGIC, 1, 0x0100_000c, 0, 4096, thin.len() as u32, 12] {
            fat.extend_from_slice(&v.to_be_bytes());
        }
        fat.resize(4096, 0);
        fat.extend_from_slice(&thin);
        assert_eq!(slices(&fat), [4096]);
        let (header_len, size) = commands_extent(&fat[4096..]).unwrap();
        let commands = &fat[4096 + header_len..4096 + header_len + size as usize];
        let (offset, len) = code_signature_location(commands, 1).unwrap();
        let blob = &fat[4096 + offset as usize..4096 + (offset + len) as usize];
        assert_eq!(parse_signature(blob), Some(want));
        // Ad hoc: an identifier, no team.
        assert_eq!(
            parse(&test_binary("a.out", None)),
            Some(Signature {
                identifier: Some("a.out".into()),
                team_id: None
            })
        );
    }

    #[test]
    fn garbage_and_truncation_are_none_not_panics() {
        let good = test_binary("x", Some("ABCDE12345"));
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        assert_eq!(parse(b"\x7fELF\x02\x01\x01"), None);
        assert!(slices(b"").is_empty());
        // A load command claiming size 0 stops the walk.
        assert_eq!(code_signature_location(&[1, 0, 0, 0, 0, 0, 0, 0], 10), None);
        // Offsets past the end, a bogus index count.
        let mut bogus = good.clone();
        let sig_at = 48;
        bogus[sig_at + 8..sig_at + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        let _ = parse(&bogus);
        bogus[sig_at + 16..sig_at + 20].copy_from_slice(&u32::MAX.to_be_bytes());
        let _ = parse(&bogus);
    }
}
