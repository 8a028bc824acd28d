//! The software inventory of a host: every piece of software postern can
//! name, with when it arrived and who brought it when the host records it.
//! The enrollment baseline is this inventory at enrollment; the
//! `new_software_since_enrollment` table is the difference.
//!
//! Sources: dpkg (install times from `dpkg.log` and its rotations, users from
//! APT's history, else the package's `.list` file time), RPM (header install
//! time), snap and flatpak (install directory times), portable executables
//! and AppImages in user-writable places (ELF, Mach-O or PE by magic bytes;
//! a size-bounded SHA-256 is taken of those reported), browser extensions, macOS app bundles and
//! Homebrew (Cellar receipts, Caskroom), and services and autostart entries
//! outside the package manager's directories.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use sha2::{Digest, Sha256};

use crate::baseline::{hex, Item};
use crate::host::browsers;
use crate::host::identity::{FileKey, IdentityCache};
use crate::host::install_logs::{self, InstallRecord};
use crate::host::snapshot::Snapshot;
use crate::host::walk::{executable_format, Incomplete, WalkLimits, Walker};
use crate::root::{join, paths, HostRoot};
use crate::table::Deadline;

/// Executables larger than this are listed without a hash.
pub const HASH_CAP: u64 = 64 << 20;
const MAGIC_LEN: u64 = 8;
/// The walk for portable executables: per area (each start directory) a
/// million names at most, and 5,000 files whose name makes them worth a
/// look (each costs a stat and maybe an 8-byte read).
pub const WALK_LIMITS: WalkLimits = WalkLimits {
    max_depth: 4,
    max_entries_per_area: 1_000_000,
    max_candidates_per_area: 5_000,
};
/// File name endings worth opening to look for an executable; other named
/// files (documents, pictures) are skipped without a read.
const EXEC_EXTENSIONS: &[&str] = &[
    "appimage", "exe", "msi", "bin", "run", "elf", "x86_64", "amd64", "arm64", "dmg", "pkg",
];
/// Endings of documents and media: never looked at, not even their metadata.
const DOCUMENT_EXTENSIONS: &[&str] = &[
    "txt", "md", "pdf", "doc", "docx", "odt", "rtf", "xls", "xlsx", "ods", "csv", "ppt", "pptx",
    "odp", "jpg", "jpeg", "png", "gif", "webp", "svg", "heic", "mp3", "mp4", "mov", "mkv", "wav",
    "flac", "json", "xml", "html", "htm", "log", "ini", "yaml", "yml", "toml", "py", "js", "ts",
    "rs", "go", "c", "h", "java", "css", "zip", "gz", "xz", "bz2", "7z", "tar", "iso", "torrent",
    "ics", "vcf", "eml",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Software {
    /// deb, rpm, snap, flatpak, portable, browser_extension, app, homebrew,
    /// service, autostart.
    pub source: &'static str,
    pub name: String,
    pub version: Option<String>,
    pub path: Option<String>,
    pub install_time: Option<i64>,
    pub installed_by: Option<String>,
    pub publisher: Option<String>,
    pub sha256: Option<String>,
}

impl Software {
    pub fn baseline_item(&self) -> Item {
        Item {
            source: self.source.to_string(),
            name: self.name.clone(),
            version: self.version.clone().unwrap_or_default(),
            path: self.path.clone().unwrap_or_default(),
        }
    }
}

fn mtime(root: &HostRoot, path: &str) -> Option<i64> {
    root.metadata(path).ok().map(|m| m.mtime())
}

/// Birth time where the filesystem records it, else modification time.
fn arrival_time(meta: &std::fs::Metadata) -> i64 {
    meta.created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_else(|| meta.mtime())
}

/// SHA-256 of a file of at most [`HASH_CAP`] bytes. Pure over the reader.
pub fn sha256_of(reader: impl Read, size: u64) -> Option<String> {
    if size > HASH_CAP {
        return None;
    }
    let mut hasher = Sha256::new();
    let mut reader = reader.take(HASH_CAP);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(buf.get(..n)?),
            Err(_) => return None,
        }
    }
    Some(hex(&hasher.finalize()))
}

/// SHA-256 of a host file of at most [`HASH_CAP`] bytes, computed once per
/// file version for the life of `cache`.
pub fn hash_file(
    root: &HostRoot,
    path: &str,
    cache: &crate::host::identity::IdentityCache,
) -> Option<String> {
    let file = root.open(path).ok()?;
    cache.digest(file, sha256_of)
}

/// Whether a file name could belong to an executable at all.
fn maybe_executable(name: &str) -> bool {
    name.rsplit_once('.')
        .is_none_or(|(_, ext)| !DOCUMENT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

fn worth_opening(name: &str, mode: u32) -> bool {
    if mode & 0o111 != 0 {
        return true;
    }
    match name.rsplit_once('.') {
        None => true,
        Some((_, ext)) => EXEC_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
    }
}

/// Everything installed on the host. Areas whose walk for portable
/// executables stopped early are added to `incomplete`.
pub fn collect(
    host: &Snapshot<'_>,
    deadline: Deadline,
    cache: &IdentityCache,
    warnings: &mut Vec<String>,
    incomplete: &mut Vec<Incomplete>,
) -> Vec<Software> {
    let root = host.root();
    // dpkg's and APT's logs are read and parsed again only when one of them
    // (or the host's time zone) changes; a running extension answers later
    // calls from memory.
    let version = |p: &str| root.metadata(p).ok().map(|m| FileKey::of(&m));
    let mut log_versions = vec![version(paths::LOCALTIME)];
    let log_files = install_logs::log_files(root);
    log_versions.extend(log_files.iter().map(|p| version(p)));
    let parsed = cache.derived("install_records", log_versions, || {
        let mut found = Vec::new();
        let tz = install_logs::host_time_zone(root, &mut found);
        let records = install_logs::install_records(root, &tz, &mut found);
        (records, found)
    });
    let (records, log_warnings) = &*parsed;
    warnings.extend(log_warnings.iter().cloned());
    // `.list` file times, for packages the logs do not mention: one listing
    // of dpkg's info directory instead of a path lookup per package.
    let mut list_times: Option<std::sync::Arc<HashMap<String, i64>>> = None;
    let mut out = Vec::new();
    for p in host.packages() {
        let mut sw = Software {
            source: p.source,
            name: p.name.clone(),
            version: p.version.clone(),
            path: Some(p.path.clone()),
            installed_by: p.user.clone(),
            publisher: p.publisher.clone(),
            // RPM headers carry their install time.
            install_time: p.install_time,
            ..Software::default()
        };
        match p.source {
            "deb" => {
                let rec = records
                    .get(&p.name)
                    .cloned()
                    .unwrap_or(InstallRecord::default());
                sw.install_time = rec.installed_at.or_else(|| {
                    let times = list_times.get_or_insert_with(|| {
                        // Remembered while the directory is unchanged
                        // (dpkg renames .list files into place).
                        cache.derived("dpkg_list_times", vec![version(paths::DPKG_INFO)], || {
                            dpkg_list_times(root)
                        })
                    });
                    times.get(&p.name).copied()
                });
                sw.installed_by = rec.installed_by;
            }
            "snap" => {
                // The oldest revision still on disk: the install, or the
                // earliest refresh kept.
                let prefix = format!("{}_", p.name);
                sw.install_time = root
                    .list_dir(paths::SNAPD_SNAPS_DIR, 10_000)
                    .unwrap_or_default()
                    .iter()
                    .filter(|f| f.starts_with(&prefix) && f.ends_with(".snap"))
                    .filter_map(|f| mtime(root, &join(paths::SNAPD_SNAPS_DIR, f)))
                    .min();
            }
            "flatpak" => sw.install_time = root.metadata(&p.path).ok().map(|m| arrival_time(&m)),
            _ => {}
        }
        out.push(sw);
    }
    out.extend(portable(host, deadline, cache, incomplete));
    for ext in browsers::extensions(root, &host.accounts().homes, warnings) {
        out.push(Software {
            source: "browser_extension",
            name: format!("{} ({})", ext.name, ext.id),
            version: ext.version,
            path: Some(format!("{} [{}]", ext.profile, ext.browser)),
            install_time: ext.install_time,
            installed_by: ext.user,
            ..Software::default()
        });
    }
    for b in host.bundles() {
        out.push(Software {
            source: "app",
            name: b.bundle_id.clone(),
            version: b.version.clone(),
            install_time: root.metadata(&b.path).ok().map(|m| arrival_time(&m)),
            path: Some(b.path.clone()),
            installed_by: b.user.clone(),
            ..Software::default()
        });
    }
    out.extend(homebrew(root));
    for s in host.services() {
        let vendor = paths::SYSTEMD_VENDOR_PREFIXES
            .iter()
            .any(|p| s.path.starts_with(p));
        if vendor {
            continue;
        }
        out.push(Software {
            source: if s.kind == "xdg_autostart" {
                "autostart"
            } else {
                "service"
            },
            name: s.name.clone(),
            version: None,
            install_time: root.symlink_metadata(&s.path).ok().map(|m| m.mtime()),
            path: Some(s.path.clone()),
            installed_by: s.user.clone(),
            ..Software::default()
        });
    }
    out
}

/// Modification times of dpkg's `<package>[:<arch>].list` files.
fn dpkg_list_times(root: &HostRoot) -> HashMap<String, i64> {
    root.entries(paths::DPKG_INFO, 1_000_000)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let stem = e.name.strip_suffix(".list")?;
            let name = stem.split(':').next()?.to_string();
            Some((name, e.metadata().ok()?.mtime()))
        })
        .collect()
}

/// Executables and AppImages in user-writable places.
pub(crate) fn portable(
    host: &Snapshot<'_>,
    deadline: Deadline,
    cache: &IdentityCache,
    incomplete: &mut Vec<Incomplete>,
) -> Vec<Software> {
    let root = host.root();
    let accounts = host.accounts();
    let mut starts: Vec<String> = paths::WRITABLE_EXEC_DIRS
        .iter()
        .map(|d| d.to_string())
        .collect();
    for (home, _) in &accounts.homes {
        for sub in paths::HOME_EXEC_DIRS {
            starts.push(join(home, sub));
        }
    }
    let mut candidates = Vec::new();
    let mut walker = Walker::new(root, WALK_LIMITS, deadline);
    for dir in &starts {
        walker.walk_named(dir, &maybe_executable, &mut |f| {
            // Executables inside app bundles are the bundles' business; links
            // are not software of their own.
            if !f.is_link && worth_opening(&f.name, f.mode) && !f.path.contains(".app/") {
                candidates.push(f);
            }
        });
    }
    incomplete.append(&mut walker.incomplete);
    let mut out = Vec::new();
    for f in candidates {
        // Each file version is opened once for its magic bytes; later walks
        // of a running extension find the answer in the cache.
        let format = cache.format(f.key, || {
            let mut file = root.open(&f.path).ok()?;
            let mut magic = [0u8; MAGIC_LEN as usize];
            let n = file.read(&mut magic).unwrap_or(0);
            executable_format(magic.get(..n).unwrap_or_default())
        });
        let Some(format) = format else {
            continue;
        };
        if format == "script" {
            continue;
        }
        out.push(Software {
            source: "portable",
            name: f.name.clone(),
            version: None,
            install_time: Some(f.born),
            installed_by: accounts
                .name_of(f.uid)
                .map(str::to_string)
                .or_else(|| Some(f.uid.to_string())),
            publisher: Some(format.to_string()),
            // Hashed only when reported (see `hash_file`): a baseline of
            // every binary in /opt would read gigabytes.
            sha256: None,
            path: Some(f.path),
        });
    }
    out
}

/// Homebrew formulae (Cellar, with the receipt's install time) and casks.
fn homebrew(root: &HostRoot) -> Vec<Software> {
    let mut out = Vec::new();
    for prefix in paths::HOMEBREW_PREFIXES {
        for (kind, dir) in [
            ("Cellar", join(prefix, "Cellar")),
            ("Caskroom", join(prefix, "Caskroom")),
        ] {
            for name in root.list_dir(&dir, 10_000).unwrap_or_default() {
                let pkg_dir = join(&dir, &name);
                let versions = root.list_dir(&pkg_dir, 64).unwrap_or_default();
                // The newest keg is the one in use (`brew outdated` too).
                let Some(version) = versions
                    .iter()
                    .filter(|v| !v.starts_with('.'))
                    .max_by(|a, b| crate::host::app_updates::compare_versions(a, b).then(a.cmp(b)))
                else {
                    continue;
                };
                let version_dir = join(&pkg_dir, version);
                let receipt_time = (kind == "Cellar")
                    .then(|| {
                        root.read_capped(&join(&version_dir, "INSTALL_RECEIPT.json"), 1 << 20)
                            .ok()
                    })
                    .flatten()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v.get("time").and_then(serde_json::Value::as_i64));
                out.push(Software {
                    source: "homebrew",
                    name: if kind == "Caskroom" {
                        format!("{name} (cask)")
                    } else {
                        name.clone()
                    },
                    version: Some(version.clone()),
                    install_time: receipt_time.or_else(|| mtime(root, &version_dir)),
                    path: Some(version_dir),
                    ..Software::default()
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_bounded() {
        let data = b"hello";
        assert_eq!(
            sha256_of(&data[..], 5).as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(sha256_of(&data[..], HASH_CAP + 1), None);
    }

    #[test]
    fn only_likely_executables_are_opened() {
        assert!(worth_opening("anydesk", 0o644));
        assert!(worth_opening("RustDesk.AppImage", 0o644));
        assert!(worth_opening("report.pdf", 0o755));
        assert!(!worth_opening("report.pdf", 0o644));
        assert!(!worth_opening("notes.txt", 0o600));
    }
}
