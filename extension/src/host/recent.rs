//! When a user last opened something with a program, from the records
//! desktops keep as files:
//!
//! - freedesktop's `~/.local/share/recently-used.xbel` (GTK, GNOME and
//!   most toolkits): each recent file lists the applications that opened it
//!   (`bookmark:application`, with the command and the time);
//! - KDE's `~/.local/share/RecentDocuments/*.desktop` (`X-KDE-LastOpenedWith`,
//!   the file's modification time);
//! - macOS's per-application recent documents,
//!   `~/Library/Application Support/com.apple.sharedfilelist/com.apple.LSSharedFileList.ApplicationRecentDocuments/<bundle id>.sfl*`,
//!   rewritten when the app opens a document (the file's modification time).
//!
//! All of them are the user's own files: a user can make an app look used
//! (forged times past now are cut to now), never hide its executable's
//! access time or a running process. Bounded: at most [`MAX_XBEL_BYTES`]
//! of one xbel, [`MAX_ENTRIES`] files of one directory, 4 KiB of each KDE
//! entry.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use quick_xml::events::Event;

use crate::root::{basename, join, HostRoot};

pub const XBEL: &str = ".local/share/recently-used.xbel";
pub const KDE_RECENT: &str = ".local/share/RecentDocuments";
pub const MACOS_RECENT: &str = "Library/Application Support/com.apple.sharedfilelist/com.apple.LSSharedFileList.ApplicationRecentDocuments";
const MAX_XBEL_BYTES: u64 = 16 << 20;
const MAX_ENTRIES: usize = 2048;

/// Latest use per program (the executable's file name) and per macOS
/// bundle id (lower case), in Unix seconds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recent {
    pub programs: HashMap<String, i64>,
    pub bundles: HashMap<String, i64>,
}

impl Recent {
    fn note(map: &mut HashMap<String, i64>, key: String, when: i64, now: i64) {
        if key.is_empty() || when <= 0 {
            return;
        }
        let when = when.min(now);
        let slot = map.entry(key).or_insert(when);
        *slot = (*slot).max(when);
    }

    /// The latest use of a program by its executable's path.
    pub fn program(&self, exe: &str) -> Option<i64> {
        self.programs.get(basename(exe)).copied()
    }

    pub fn bundle(&self, bundle_id: &str) -> Option<i64> {
        self.bundles.get(&bundle_id.to_ascii_lowercase()).copied()
    }

    /// Reads every home's records.
    pub fn read(root: &HostRoot, homes: &[String], now: i64) -> Recent {
        let mut out = Recent::default();
        for home in homes {
            if let Ok(text) = root.read_string_capped(&join(home, XBEL), MAX_XBEL_BYTES) {
                for (program, when) in parse_xbel(&text) {
                    Self::note(&mut out.programs, program, when, now);
                }
            }
            let kde = join(home, KDE_RECENT);
            for entry in root.entries(&kde, MAX_ENTRIES).unwrap_or_default() {
                if !entry.name.ends_with(".desktop") {
                    continue;
                }
                let path = join(&kde, &entry.name);
                let Ok(meta) = root.metadata(&path) else {
                    continue;
                };
                // The key sits in the first lines; a flood of large files
                // costs a few kilobytes each.
                if let Ok(bytes) = root.read_prefix(&path, 4096) {
                    if let Some(program) = kde_opened_with(&String::from_utf8_lossy(&bytes)) {
                        Self::note(&mut out.programs, program, meta.mtime(), now);
                    }
                }
            }
            let mac = join(home, MACOS_RECENT);
            for entry in root.entries(&mac, MAX_ENTRIES).unwrap_or_default() {
                let Some((id, ext)) = entry.name.rsplit_once('.') else {
                    continue;
                };
                if !ext.starts_with("sfl") {
                    continue;
                }
                if let Ok(meta) = root.metadata(&join(&mac, &entry.name)) {
                    Self::note(&mut out.bundles, id.to_ascii_lowercase(), meta.mtime(), now);
                }
            }
        }
        out
    }
}

/// The program a desktop `Exec` line runs: its first word, unquoted, by file
/// name. Pure.
pub fn program_of_exec(exec: &str) -> String {
    program_within(exec, true)
}

fn program_within(exec: &str, unwrap: bool) -> String {
    let exec = exec.trim();
    let first = match exec.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let inner = exec.get(1..).and_then(|r| r.split(q).next()).unwrap_or("");
            // GLib quotes the whole command line: 'gnome-text-editor %U'.
            if unwrap && exec.len() == inner.len() + 2 && exec.ends_with(q) {
                return program_within(inner, false);
            }
            inner
        }
        _ => exec.split_whitespace().next().unwrap_or(""),
    };
    basename(first).to_string()
}

/// (program, time) of every `bookmark:application` in an xbel file. Pure.
pub fn parse_xbel(text: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e))
                if e.local_name().into_inner() == "application" =>
            {
                let (mut exec, mut name, mut when) = (None, None, None);
                for a in e.attributes().flatten() {
                    let Ok(v) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) else {
                        continue;
                    };
                    match a.key.local_name().into_inner() {
                        "exec" => exec = Some(v.into_owned()),
                        "name" => name = Some(v.into_owned()),
                        // GLib writes ISO 8601; old files have Unix seconds.
                        "modified" | "timestamp" => {
                            when = v
                                .parse::<jiff::Timestamp>()
                                .map(|t| t.as_second())
                                .ok()
                                .or_else(|| v.trim().parse::<i64>().ok())
                                .or(when)
                        }
                        _ => {}
                    }
                }
                let program = exec
                    .map(|e| program_of_exec(&e))
                    .filter(|p| !p.is_empty())
                    .or(name);
                if let (Some(p), Some(t)) = (program, when) {
                    out.push((p, t));
                }
            }
            Ok(Event::Eof) | Err(_) => return out,
            _ => {}
        }
    }
}

/// The program a KDE RecentDocuments entry was last opened with. Pure.
pub fn kde_opened_with(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("X-KDE-LastOpenedWith="))
        .map(program_of_exec)
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const XBEL_TEXT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xbel version="1.0"
      xmlns:bookmark="http://www.freedesktop.org/standards/desktop-bookmarks"
      xmlns:mime="http://www.freedesktop.org/standards/shared-mime-info">
  <bookmark href="file:///home/alice/notes.txt" added="2024-05-01T09:00:00.123456Z" modified="2024-05-02T10:00:00Z" visited="2024-05-02T10:00:00Z">
    <info><metadata owner="http://freedesktop.org">
      <mime:mime-type type="text/plain"/>
      <bookmark:applications>
        <bookmark:application name="Text Editor" exec="&apos;gnome-text-editor %U&apos;" modified="2024-05-02T10:00:00.5Z" count="3"/>
        <bookmark:application name="vlc" exec="/usr/bin/vlc --started-from-file %U" modified="2024-04-01T00:00:00Z" count="1"/>
      </bookmark:applications>
    </metadata></info>
  </bookmark>
  <bookmark href="file:///x"><info><metadata><bookmark:applications>
    <bookmark:application name="old" exec="old-app" timestamp="1600000000" count="1"/>
    <bookmark:application name="broken" exec="x" modified="yesterday"/>
  </bookmark:applications></metadata></info></bookmark>
</xbel>"#;

    #[test]
    fn xbel_applications_and_times() {
        let got = parse_xbel(XBEL_TEXT);
        assert_eq!(
            got,
            [
                ("gnome-text-editor".to_string(), 1714644000),
                ("vlc".to_string(), 1711929600),
                ("old-app".to_string(), 1600000000),
            ]
        );
        assert!(parse_xbel("<xbel><bookmark:application exec=").is_empty());
    }

    #[test]
    fn exec_lines_and_kde_entries() {
        assert_eq!(program_of_exec("'/opt/Foo Bar/foo' %u"), "foo");
        assert_eq!(program_of_exec("\"code\" --new-window"), "code");
        assert_eq!(program_of_exec("  "), "");
        assert_eq!(program_of_exec("'vlc %U'"), "vlc");
        // Quotes nested a million deep are unwrapped once, not recursed into.
        let deep = format!("{}x{}", "'".repeat(1 << 20), "'".repeat(1 << 20));
        assert_eq!(program_of_exec(&deep), "");
        assert_eq!(
            kde_opened_with("[Desktop Entry]\nURL=file:///x\nX-KDE-LastOpenedWith=okular\n")
                .as_deref(),
            Some("okular")
        );
        assert_eq!(kde_opened_with("[Desktop Entry]\n"), None);
    }

    #[test]
    fn forged_future_times_are_cut_to_now() {
        let mut r = Recent::default();
        Recent::note(&mut r.programs, "vlc".into(), 4_000_000_000, 1_700_000_000);
        Recent::note(&mut r.programs, "vlc".into(), 1_600_000_000, 1_700_000_000);
        assert_eq!(r.program("/usr/bin/vlc"), Some(1_700_000_000));
    }
}
