//! A bounded directory walk: depth caps, per-area budgets, a deadline, and
//! links never followed (a link is reported as what it is, not walked into).
//!
//! Each start directory is an *area* with budgets of its own, so a flood of
//! files in `/tmp` cannot spend the budget that the next home directory
//! needs. Two budgets per area: entries read from directories (cheap: a name
//! and a type, no metadata) and *candidates*, the files whose name the
//! caller wants (each costs a metadata call and, later, a read). Directories
//! are read as a stream, so a directory of half a million names is looked
//! through name by name instead of being cut at a listing cap. An area that
//! runs out of a budget or of time is recorded in [`Walker::incomplete`], and
//! the tables turn that into rows a fleet policy can test.

use std::os::unix::fs::MetadataExt;

use crate::root::{join, HostRoot};
use crate::table::Deadline;

/// What the tables put in their kind column (`evidence_type`, `source`) for
/// a row saying that the walk of an area stopped early.
pub const SCAN_INCOMPLETE: &str = "scan_incomplete";

#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    pub max_depth: usize,
    /// Directory entries read per area (names only).
    pub max_entries_per_area: usize,
    /// Files per area whose name the caller wants (each costs a stat).
    pub max_candidates_per_area: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkedFile {
    pub path: String,
    pub name: String,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    /// A symbolic link (reported, never followed): npm and pipx install
    /// their commands as links in `~/.local/bin`.
    pub is_link: bool,
    /// This version of the file (of the link itself for a link).
    pub key: crate::host::identity::FileKey,
    /// When it arrived: its birth time where the filesystem keeps one, else
    /// its modification time (Unix seconds).
    pub born: i64,
}

/// An area whose walk stopped early, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Incomplete {
    pub area: String,
    pub reason: String,
}

/// Walk state across several areas.
pub struct Walker<'a> {
    root: &'a HostRoot,
    limits: WalkLimits,
    deadline: Deadline,
    /// Counters of the area being walked.
    entries: usize,
    candidates: usize,
    stop: Option<String>,
    pub incomplete: Vec<Incomplete>,
}

impl<'a> Walker<'a> {
    pub fn new(root: &'a HostRoot, limits: WalkLimits, deadline: Deadline) -> Self {
        Walker {
            root,
            limits,
            deadline,
            entries: 0,
            candidates: 0,
            stop: None,
            incomplete: Vec::new(),
        }
    }

    /// Calls `visit` for every regular file below the area `dir` (host path).
    pub fn walk(&mut self, dir: &str, visit: &mut dyn FnMut(WalkedFile)) {
        self.walk_named(dir, &|_| true, visit);
    }

    /// Like [`walk`](Self::walk), for files whose name `wanted` accepts: the
    /// others cost no metadata call and count only as entries.
    pub fn walk_named(
        &mut self,
        dir: &str,
        wanted: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(WalkedFile),
    ) {
        self.entries = 0;
        self.candidates = 0;
        self.stop = None;
        // The start directory itself must be a real directory, not a link.
        match self.root.symlink_metadata(dir) {
            Ok(m) if m.is_dir() => self.walk_dir(dir, 0, wanted, visit),
            _ => return,
        }
        if let Some(reason) = self.stop.take() {
            log::warn!("walk of {dir} stopped early: {reason}");
            self.incomplete.push(Incomplete {
                area: dir.to_string(),
                reason,
            });
        }
    }

    fn walk_dir(
        &mut self,
        dir: &str,
        depth: usize,
        wanted: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(WalkedFile),
    ) {
        if self.stop.is_some() {
            return;
        }
        if self.deadline.expired() {
            self.stop = Some("the table's deadline passed".into());
            return;
        }
        let limits = self.limits;
        let deadline = self.deadline;
        let mut subdirs = Vec::new();
        let mut files = Vec::new();
        let mut entries = self.entries;
        let mut candidates = self.candidates;
        let mut stop = None;
        let listed = self.root.scan_dir(dir, &mut |entry| {
            entries += 1;
            if entries > limits.max_entries_per_area {
                stop = Some(format!(
                    "more than {} directory entries",
                    limits.max_entries_per_area
                ));
                return false;
            }
            if entries % 4096 == 0 && deadline.expired() {
                stop = Some("the table's deadline passed".into());
                return false;
            }
            if entry.file_type.is_dir() {
                if depth + 1 < limits.max_depth {
                    subdirs.push(entry.name.clone());
                }
            } else if (entry.file_type.is_file() || entry.file_type.is_symlink())
                && wanted(&entry.name)
            {
                candidates += 1;
                if candidates > limits.max_candidates_per_area {
                    stop = Some(format!(
                        "more than {} files with names worth checking",
                        limits.max_candidates_per_area
                    ));
                    return false;
                }
                if let Ok(meta) = entry.metadata() {
                    files.push(WalkedFile {
                        path: join(dir, &entry.name),
                        name: entry.name.clone(),
                        size: meta.len(),
                        mode: meta.mode(),
                        uid: meta.uid(),
                        is_link: entry.file_type.is_symlink(),
                        key: crate::host::identity::FileKey::of(&meta),
                        born: meta
                            .created()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .and_then(|d| i64::try_from(d.as_secs()).ok())
                            .unwrap_or_else(|| meta.mtime()),
                    });
                }
            }
            // Links are reported (named like a tool) but never followed;
            // special files are skipped.
            true
        });
        self.entries = entries;
        self.candidates = candidates;
        if let Err(e) = listed {
            if e.is_permission_denied() {
                log::info!("{e}");
            }
        }
        // Files found before a stop are still reported; order is by name.
        files.sort_by(|a, b| a.name.cmp(&b.name));
        for file in files {
            visit(file);
        }
        if stop.is_some() {
            self.stop = stop;
            return;
        }
        subdirs.sort();
        for sub in subdirs {
            self.walk_dir(&join(dir, &sub), depth + 1, wanted, visit);
        }
    }
}

/// The kind of executable a file's first bytes announce. Pure.
pub fn executable_format(magic: &[u8]) -> Option<&'static str> {
    match magic {
        [0x7f, b'E', b'L', b'F', ..] => Some("ELF"),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..] | [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..] => Some("Mach-O"),
        [0xca, 0xfe, 0xba, 0xbe, ..] => Some("Mach-O universal"),
        [b'M', b'Z', ..] => Some("PE"),
        [b'#', b'!', ..] => Some("script"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn magic_bytes() {
        assert_eq!(executable_format(b"\x7fELF\x02\x01"), Some("ELF"));
        assert_eq!(executable_format(b"MZ\x90\x00"), Some("PE"));
        assert_eq!(executable_format(&[0xcf, 0xfa, 0xed, 0xfe]), Some("Mach-O"));
        assert_eq!(executable_format(b"PK\x03\x04"), None);
        assert_eq!(executable_format(b""), None);
    }

    #[test]
    fn walk_is_bounded_and_does_not_follow_links() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        fs::write(outside.path().join("secret"), "x")?;
        fs::create_dir_all(dir.path().join("a/b/c/d"))?;
        fs::write(dir.path().join("a/one"), "1")?;
        fs::write(dir.path().join("a/b/c/d/deep"), "1")?;
        std::os::unix::fs::symlink(outside.path(), dir.path().join("a/link"))?;
        let root = HostRoot::new(dir.path())?;
        let mut found = Vec::new();
        let mut w = Walker::new(
            &root,
            WalkLimits {
                max_depth: 3,
                max_entries_per_area: 100,
                max_candidates_per_area: 100,
            },
            Deadline::none(),
        );
        w.walk("/a", &mut |f| found.push(f.path));
        assert_eq!(found, ["/a/link", "/a/one"]);
        let mut w = Walker::new(
            &root,
            WalkLimits {
                max_depth: 10,
                max_entries_per_area: 2,
                max_candidates_per_area: 100,
            },
            Deadline::none(),
        );
        let mut count = 0;
        w.walk("/a", &mut |_| count += 1);
        assert_eq!(w.incomplete.len(), 1);
        Ok(())
    }
}
