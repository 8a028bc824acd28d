//! A bounded directory walk: depth and entry caps, a deadline, and links
//! never followed (a link is reported as what it is, not walked into).

use std::os::unix::fs::MetadataExt;

use crate::root::{join, HostRoot};
use crate::table::Deadline;

#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    pub max_depth: usize,
    /// Entries examined across the whole walk (shared by every start dir).
    pub max_entries: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkedFile {
    pub path: String,
    pub name: String,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
}

/// Walk state shared across several start directories.
pub struct Walker<'a> {
    root: &'a HostRoot,
    limits: WalkLimits,
    deadline: Deadline,
    seen: usize,
    pub truncated: bool,
}

impl<'a> Walker<'a> {
    pub fn new(root: &'a HostRoot, limits: WalkLimits, deadline: Deadline) -> Self {
        Walker {
            root,
            limits,
            deadline,
            seen: 0,
            truncated: false,
        }
    }

    /// Calls `visit` for every regular file below `dir` (host path).
    pub fn walk(&mut self, dir: &str, visit: &mut dyn FnMut(WalkedFile)) {
        self.walk_named(dir, &|_| true, visit);
    }

    /// Like [`walk`](Self::walk), for files whose name `wanted` accepts: the
    /// others cost no metadata call.
    pub fn walk_named(
        &mut self,
        dir: &str,
        wanted: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(WalkedFile),
    ) {
        // The start directory itself must be a real directory, not a link.
        match self.root.symlink_metadata(dir) {
            Ok(m) if m.is_dir() => self.walk_dir(dir, 0, wanted, visit),
            _ => {}
        }
    }

    fn walk_dir(
        &mut self,
        dir: &str,
        depth: usize,
        wanted: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(WalkedFile),
    ) {
        let remaining = self.limits.max_entries.saturating_sub(self.seen);
        if remaining == 0 || self.deadline.expired() {
            self.truncated = true;
            return;
        }
        let entries = match self.root.entries(dir, remaining) {
            Ok(e) => e,
            Err(e) => {
                if e.is_permission_denied() {
                    log::info!("{e}");
                }
                return;
            }
        };
        for entry in entries {
            self.seen += 1;
            if self.seen > self.limits.max_entries {
                self.truncated = true;
                return;
            }
            let path = join(dir, &entry.name);
            if entry.file_type.is_dir() {
                if depth + 1 < self.limits.max_depth {
                    self.walk_dir(&path, depth + 1, wanted, visit);
                }
            } else if entry.file_type.is_file() && wanted(&entry.name) {
                let Ok(meta) = entry.metadata() else { continue };
                visit(WalkedFile {
                    path,
                    name: entry.name,
                    size: meta.len(),
                    mode: meta.mode(),
                    uid: meta.uid(),
                });
            }
            // Links and special files are neither followed nor reported.
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
                max_entries: 100,
            },
            Deadline::none(),
        );
        w.walk("/a", &mut |f| found.push(f.path));
        assert_eq!(found, ["/a/one"]);
        let mut w = Walker::new(
            &root,
            WalkLimits {
                max_depth: 10,
                max_entries: 2,
            },
            Deadline::none(),
        );
        let mut count = 0;
        w.walk("/a", &mut |_| count += 1);
        assert!(w.truncated);
        Ok(())
    }
}
