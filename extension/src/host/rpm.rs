//! The RPM database: `rpmdb.sqlite` (RPM 4.16 and later: Fedora, RHEL 9,
//! openSUSE), whose `Packages` table holds one RPM header blob per package.
//!
//! The database is opened read-only and immutable (no locks, no journal,
//! nothing written to the host); transactions still in its write-ahead log
//! are therefore not seen until RPM checkpoints them. Older Berkeley DB
//! databases (`Packages`) are reported as unsupported.

use crate::root::{paths, HostRoot};

const MAX_PACKAGES: usize = 200_000;
/// An RPM header larger than this is not a package header.
const MAX_HEADER: usize = 64 << 20;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_INSTALLTIME: u32 = 1008;
const TAG_VENDOR: u32 = 1011;
const TAG_ARCH: u32 = 1022;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<u32>,
    pub arch: Option<String>,
    pub vendor: Option<String>,
    pub install_time: Option<i64>,
}

impl RpmHeader {
    /// `[epoch:]version-release`, as rpm prints it.
    pub fn evr(&self) -> String {
        let vr = if self.release.is_empty() {
            self.version.clone()
        } else {
            format!("{}-{}", self.version, self.release)
        };
        match self.epoch {
            Some(e) if e > 0 => format!("{e}:{vr}"),
            _ => vr,
        }
    }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn c_string(store: &[u8], offset: usize) -> Option<String> {
    let tail = store.get(offset..)?;
    let end = tail.iter().position(|b| *b == 0)?;
    Some(String::from_utf8_lossy(tail.get(..end)?).into_owned())
}

/// Parses an RPM header blob as stored in `rpmdb.sqlite` (index count, data
/// length, 16-byte index entries, data store). Every offset is checked. Pure.
pub fn parse_rpm_header(blob: &[u8]) -> Result<RpmHeader, String> {
    let count = be32(blob, 0).ok_or("header shorter than 8 bytes")? as usize;
    let data_len = be32(blob, 4).ok_or("header shorter than 8 bytes")? as usize;
    let index_len = count.checked_mul(16).ok_or("index count overflows")?;
    let store_start = 8usize.checked_add(index_len).ok_or("index overflows")?;
    let store_end = store_start
        .checked_add(data_len)
        .ok_or("data length overflows")?;
    if store_end > blob.len() || store_end > MAX_HEADER {
        return Err(format!(
            "header declares {count} entries and {data_len} data bytes but has {} bytes",
            blob.len()
        ));
    }
    let store = blob
        .get(store_start..store_end)
        .ok_or("data store out of range")?;
    let mut header = RpmHeader::default();
    for i in 0..count {
        let at = 8 + i * 16;
        let (Some(tag), Some(kind), Some(offset)) =
            (be32(blob, at), be32(blob, at + 4), be32(blob, at + 8))
        else {
            return Err(format!("index entry {i} is cut short"));
        };
        let offset = offset as usize;
        let string = || {
            if kind == TYPE_STRING || kind == TYPE_I18NSTRING {
                c_string(store, offset)
            } else {
                None
            }
        };
        let int32 = || {
            if kind == TYPE_INT32 {
                be32(store, offset)
            } else {
                None
            }
        };
        match tag {
            TAG_NAME => header.name = string().ok_or("NAME is not a string")?,
            TAG_VERSION => header.version = string().unwrap_or_default(),
            TAG_RELEASE => header.release = string().unwrap_or_default(),
            TAG_EPOCH => header.epoch = int32(),
            TAG_ARCH => header.arch = string(),
            TAG_VENDOR => header.vendor = string(),
            TAG_INSTALLTIME => header.install_time = int32().map(i64::from),
            _ => {}
        }
    }
    if header.name.is_empty() {
        return Err("header has no NAME".into());
    }
    Ok(header)
}

/// Packages in the host's `rpmdb.sqlite`, or an explanation of why they
/// cannot be read. An absent database gives an empty list.
pub fn rpm_packages(root: &HostRoot, warnings: &mut Vec<String>) -> Vec<(RpmHeader, &'static str)> {
    let Some(db) = [paths::RPMDB_SQLITE, paths::RPMDB_SQLITE_USR]
        .into_iter()
        .find(|p| root.exists(p))
    else {
        if root.exists(paths::RPMDB_BDB) {
            warnings.push(format!(
                "{}: Berkeley DB RPM databases are not supported; RPM packages are found only by their other evidence",
                paths::RPMDB_BDB
            ));
        }
        return Vec::new();
    };
    // Opened (without blocking, regular files only) before SQLite sees it:
    // SQLite reopens it through the descriptor's own path.
    let (_file, fs_path) = match root.open_for_library(db) {
        Ok(opened) => opened,
        Err(e) => {
            warnings.push(e.to_string());
            return Vec::new();
        }
    };
    match read_rpmdb(&fs_path) {
        Ok((headers, bad)) => {
            if bad > 0 {
                warnings.push(format!(
                    "{db}: {bad} package header(s) could not be parsed and were skipped"
                ));
            }
            headers.into_iter().map(|h| (h, db)).collect()
        }
        Err(e) => {
            warnings.push(format!("cannot read {db}: {e}"));
            Vec::new()
        }
    }
}

fn read_rpmdb(path: &std::path::Path) -> Result<(Vec<RpmHeader>, usize), rusqlite::Error> {
    use rusqlite::{Connection, OpenFlags};
    let uri = format!("file:{}?immutable=1", path.display());
    let conn = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("SELECT blob FROM Packages")?;
    let mut rows = stmt.query([])?;
    let mut headers = Vec::new();
    let mut bad = 0usize;
    while let Some(row) = rows.next()? {
        if headers.len() >= MAX_PACKAGES {
            break;
        }
        let blob: Vec<u8> = row.get(0)?;
        match parse_rpm_header(&blob) {
            Ok(h) => headers.push(h),
            Err(_) => bad += 1,
        }
    }
    Ok((headers, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header captured from an rpmdb.sqlite written by rpm 4.18.
    const TAILSCALE: &[u8] = include_bytes!("testdata/rpm_header_tailscale.bin");

    #[test]
    fn parses_a_real_header() {
        let h = parse_rpm_header(TAILSCALE).unwrap();
        assert_eq!(h.name, "tailscale");
        assert_eq!(h.evr(), "1.76.1-1");
        assert_eq!(h.arch.as_deref(), Some("noarch"));
        assert_eq!(h.vendor.as_deref(), Some("Fixture Vendor"));
        assert!(h.install_time.is_some_and(|t| t > 1_700_000_000));
    }

    #[test]
    fn truncated_and_garbage_headers_are_errors() {
        for cut in [0, 4, 8, 100, TAILSCALE.len() / 2, TAILSCALE.len() - 1] {
            assert!(
                parse_rpm_header(&TAILSCALE[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        assert!(parse_rpm_header(&[0xff; 64]).is_err());
        // The NAME entry's offset pointing far past the data store.
        let mut bad_offset = TAILSCALE.to_vec();
        let count = be32(&bad_offset, 0).unwrap() as usize;
        let name_entry = (0..count)
            .map(|i| 8 + i * 16)
            .find(|at| be32(&bad_offset, *at) == Some(TAG_NAME))
            .unwrap();
        bad_offset[name_entry + 8..name_entry + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            parse_rpm_header(&bad_offset),
            Err("NAME is not a string".to_string())
        );
    }

    #[test]
    fn epoch_formatting() {
        let h = RpmHeader {
            name: "x".into(),
            version: "1.0".into(),
            release: "2".into(),
            epoch: Some(3),
            ..RpmHeader::default()
        };
        assert_eq!(h.evr(), "3:1.0-2");
    }
}
