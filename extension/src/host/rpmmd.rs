//! What dnf, yum or zypper would update an RPM package to, from the
//! repository metadata they keep on disk. No network, no package manager
//! process.
//!
//! - dnf (Fedora, RHEL 8 and later): `/var/cache/dnf/<repo>-<hash>/repodata/`
//!   and dnf5's `/var/cache/libdnf5/<repo>-<hash>/repodata/`;
//! - zypper (openSUSE, SLES): `/var/cache/zypp/raw/<repo>/repodata/`;
//! - yum (RHEL/CentOS 7): `/var/cache/yum/<arch>/<release>/<repo>/`, whose
//!   `repomd.xml` names the same files (the primary list as SQLite there).
//!
//! Each repository's `repomd.xml` names its `primary` package list (XML,
//! plain, gzip or zstd; or yum's bzip2'd SQLite, read from the copy yum
//! unpacks into `gen/`) and its `updateinfo` advisories. Only repositories
//! the configuration enables count (`/etc/yum.repos.d`, `/etc/zypp/repos.d`;
//! `enabled=0` or a cache whose repository is no longer configured is
//! skipped), with their `exclude=` patterns and dnf.conf's.
//!
//! The candidate is what `dnf check-update` lists: the highest
//! epoch:version-release any enabled repository offers for the package's
//! name and a compatible architecture (the same one, or `noarch` either
//! way), compared with rpm's own ordering (the `rpm-version` crate, checked
//! against `rpm` itself in the tests) and with the newest installed version
//! of that name (kernels are installed side by side). The update is a
//! security one when an advisory of type `security` names the package at a
//! version newer than the installed one and no newer than the candidate.
//!
//! The parsers are pure; [`Repos::read`] reads through the root, bounded.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use rpm_version::rpm_evr_compare;

use crate::host::Candidate;
use crate::root::{join, HostRoot};

/// Where the package managers keep repository metadata, and who they are.
const CACHES: &[(&str, &str)] = &[
    ("/var/cache/dnf", "dnf"),
    ("/var/cache/libdnf5", "dnf"),
    ("/var/cache/zypp/raw", "zypper"),
    ("/var/cache/yum", "yum"),
];
const REPO_DIRS: &[&str] = &["/etc/yum.repos.d", "/etc/zypp/repos.d"];
const DNF_CONFS: &[&str] = &["/etc/dnf/dnf.conf", "/etc/yum.conf"];
/// Repositories read at most, bytes of one metadata file (decompressed).
const MAX_REPOS: usize = 256;
const MAX_METADATA_BYTES: u64 = 1 << 30;
const MAX_REPOMD_BYTES: u64 = 4 << 20;

/// One package version a repository offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub evr: String,
    pub arch: String,
    /// Index into [`Repos::repos`].
    pub repo: usize,
}

/// A security advisory's fixed version of a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub evr: String,
    pub arch: String,
    pub advisory: String,
}

/// A repository whose metadata was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    pub id: String,
    /// dnf, yum or zypper.
    pub manager: &'static str,
}

/// Every offer and security fix for the installed package names.
#[derive(Debug, Default)]
pub struct Repos {
    pub repos: Vec<Repo>,
    pub offers: HashMap<String, Vec<Offer>>,
    pub fixes: HashMap<String, Vec<Fix>>,
    pub warnings: Vec<String>,
}

/// What the repository configuration says of one repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepoConfig {
    pub enabled: bool,
    pub exclude: Vec<String>,
}

/// Parses a `.repo` file or dnf.conf (INI): section name → enabled and
/// exclude patterns. Pure.
pub fn parse_repo_config(text: &str) -> HashMap<String, RepoConfig> {
    let mut out: HashMap<String, RepoConfig> = HashMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_insert(RepoConfig {
                enabled: true,
                exclude: Vec::new(),
            });
            section = Some(name);
            continue;
        }
        let (Some(s), Some((key, value))) = (&section, line.split_once('=')) else {
            continue;
        };
        let Some(conf) = out.get_mut(s) else { continue };
        let value = value.trim();
        match key.trim() {
            "enabled" => {
                conf.enabled = !matches!(value.to_ascii_lowercase().as_str(), "0" | "false" | "no")
            }
            "exclude" | "excludepkgs" => conf.exclude.extend(
                value
                    .split([',', ' '])
                    .filter(|p| !p.is_empty())
                    .map(String::from),
            ),
            _ => {}
        }
    }
    out
}

/// A dnf cache directory's repository id: `fedora-a1b2c3d4e5f6a7b8` is
/// `fedora`. Pure.
pub fn dnf_repo_id(dir: &str) -> &str {
    match dir.rsplit_once('-') {
        Some((id, hash))
            if !id.is_empty() && hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            id
        }
        _ => dir,
    }
}

/// The `location href` of the `primary`, `primary_db` and `updateinfo`
/// entries of a repomd.xml, relative to the repository's base. Hrefs that
/// climb out (`..`) or are absolute are dropped. Pure.
pub fn parse_repomd(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut reader = Reader::from_str(text);
    let mut kind: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if local(&e) == "data" => kind = attr(&e, "type"),
            Ok(Event::End(e)) if e.local_name().into_inner() == "data" => kind = None,
            Ok(Event::Empty(e)) | Ok(Event::Start(e)) if local(&e) == "location" => {
                if let (Some(k), Some(href)) = (&kind, attr(&e, "href")) {
                    let safe = !href.starts_with('/')
                        && !href.split('/').any(|part| part == "..")
                        && !href.contains('\0');
                    if safe {
                        out.insert(k.clone(), href);
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

fn local<'a>(e: &'a BytesStart<'a>) -> &'a str {
    e.local_name().into_inner()
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().into_inner() == name)
            .then(|| {
                a.normalized_value(XmlVersion::Implicit1_0)
                    .ok()
                    .map(|v| v.into_owned())
            })
            .flatten()
    })
}

/// `epoch:version-release` with the epoch left out when it is 0 or empty,
/// as rpm prints it.
pub fn evr(epoch: &str, version: &str, release: &str) -> String {
    let vr = if release.is_empty() {
        version.to_string()
    } else {
        format!("{version}-{release}")
    };
    match epoch.trim() {
        "" | "0" => vr,
        e => format!("{e}:{vr}"),
    }
}

/// Reads a primary.xml stream, calling `offer(name, arch, evr)` for the
/// packages named in `wanted`. Pure apart from the reader.
pub fn scan_primary(
    input: impl BufRead,
    wanted: &HashSet<String>,
    offer: &mut dyn FnMut(&str, &str, String),
) -> Result<(), String> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let (mut in_package, mut field) = (false, None::<&'static str>);
    let (mut name, mut arch, mut version) = (String::new(), String::new(), None::<String>);
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not valid XML: {e}"))?;
        match event {
            Event::Start(e) => match local(&e) {
                "package" => {
                    in_package = true;
                    name.clear();
                    arch.clear();
                    version = None;
                }
                "name" if in_package => field = Some("name"),
                "arch" if in_package => field = Some("arch"),
                "version" if in_package => version = Some(version_attrs(&e)),
                _ => field = None,
            },
            Event::Empty(e) if in_package && local(&e) == "version" => {
                version = Some(version_attrs(&e));
            }
            Event::Text(t) => {
                let Some(f) = field else { continue };
                let value = t.xml10_content();
                match f {
                    "name" => name.push_str(&value),
                    _ => arch.push_str(&value),
                }
            }
            Event::End(e) => {
                field = None;
                if e.local_name().into_inner() == "package" && in_package {
                    in_package = false;
                    if let Some(v) = version.take() {
                        if wanted.contains(&name) && arch != "src" {
                            offer(&name, &arch, v);
                        }
                    }
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

fn version_attrs(e: &BytesStart<'_>) -> String {
    let get = |k: &str| attr(e, k).unwrap_or_default();
    evr(&get("epoch"), &get("ver"), &get("rel"))
}

/// Reads an updateinfo.xml stream: the packages that `security` advisories
/// fix, for the names in `wanted`. Pure apart from the reader.
pub fn scan_updateinfo(
    input: impl BufRead,
    wanted: &HashSet<String>,
    fix: &mut dyn FnMut(&str, Fix),
) -> Result<(), String> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let (mut security, mut in_id, mut id) = (false, false, String::new());
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not valid XML: {e}"))?;
        match event {
            Event::Start(e) if local(&e) == "update" => {
                security = attr(&e, "type").as_deref() == Some("security");
                id.clear();
            }
            Event::Start(e) if local(&e) == "id" => in_id = true,
            Event::Text(t) if in_id => id.push_str(&t.xml10_content()),
            Event::End(e) if e.local_name().into_inner() == "id" => in_id = false,
            Event::Start(e) | Event::Empty(e) if security && local(&e) == "package" => {
                let get = |k: &str| attr(&e, k).unwrap_or_default();
                let name = get("name");
                if wanted.contains(&name) {
                    fix(
                        &name,
                        Fix {
                            evr: evr(&get("epoch"), &get("version"), &get("release")),
                            arch: get("arch"),
                            advisory: id.trim().to_string(),
                        },
                    );
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// An architecture an installed package may update from.
fn compatible(installed: &str, offered: &str) -> bool {
    installed == offered || installed == "noarch" || offered == "noarch"
}

/// A metadata file's reader, decompressed by its suffix; None for formats
/// not read here (xz, bzip2).
fn open_metadata(root: &HostRoot, path: &str) -> Result<Option<Box<dyn BufRead>>, String> {
    let file = root.open(path).map_err(|e| e.to_string())?;
    let bounded = file.take(MAX_METADATA_BYTES);
    Ok(if path.ends_with(".gz") {
        let decoder = flate2::read::MultiGzDecoder::new(bounded).take(MAX_METADATA_BYTES);
        Some(Box::new(BufReader::new(decoder)))
    } else if path.ends_with(".zst") {
        let decoder = ruzstd::decoding::StreamingDecoder::new(bounded)
            .map_err(|e| format!("{path}: not zstd: {e}"))?;
        Some(Box::new(BufReader::new(decoder.take(MAX_METADATA_BYTES))))
    } else if path.ends_with(".xml") {
        Some(Box::new(BufReader::new(bounded)))
    } else {
        None
    })
}

/// The repository directories under a cache: those holding
/// `repodata/repomd.xml` (dnf, zypper) or `repomd.xml` itself (yum, two
/// levels down), as (repository id, directory of repomd.xml, base).
fn repo_dirs(root: &HostRoot, cache: &str, manager: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut names = root.list_dir(cache, 4096).unwrap_or_default();
    names.sort();
    for name in names {
        let dir = join(cache, &name);
        match manager {
            "yum" => {
                // /var/cache/yum/<arch>/<release>/<repo>/repomd.xml
                let mut releases = root.list_dir(&dir, 64).unwrap_or_default();
                releases.sort();
                for release in releases {
                    let rdir = join(&dir, &release);
                    let mut repos = root.list_dir(&rdir, 1024).unwrap_or_default();
                    repos.sort();
                    for repo in repos {
                        let base = join(&rdir, &repo);
                        if root.exists(&join(&base, "repomd.xml")) {
                            out.push((repo, base.clone(), base));
                        }
                    }
                }
            }
            _ => {
                let repodata = join(&dir, "repodata");
                if root.exists(&join(&repodata, "repomd.xml")) {
                    let id = if manager == "dnf" {
                        dnf_repo_id(&name).to_string()
                    } else {
                        name.clone()
                    };
                    out.push((id, repodata, dir));
                }
            }
        }
    }
    out
}

impl Repos {
    /// Reads the enabled repositories' metadata, keeping offers and fixes
    /// of `installed` package names only.
    pub fn read(root: &HostRoot, installed: &HashSet<String>) -> Repos {
        let mut out = Repos::default();
        // The configuration: which repositories are enabled, what is excluded.
        let mut config: HashMap<String, RepoConfig> = HashMap::new();
        let mut configured = false;
        for dir in REPO_DIRS {
            let mut files = root.list_dir(dir, 512).unwrap_or_default();
            files.sort();
            for f in files.iter().filter(|f| f.ends_with(".repo")) {
                let path = join(dir, f);
                match root.read_string_capped(&path, 1 << 20) {
                    Ok(text) => {
                        if let Err(why) = root.check_trusted(&path) {
                            out.warnings
                                .push(format!("{path} not trusted: {why}; it is ignored"));
                            continue;
                        }
                        configured = true;
                        config.extend(parse_repo_config(&text));
                    }
                    Err(e) => out.warnings.push(e.to_string()),
                }
            }
        }
        let mut global_exclude = Vec::new();
        for conf in DNF_CONFS {
            if let Ok(text) = root.read_string_capped(conf, 1 << 20) {
                if root.check_trusted(conf).is_ok() {
                    if let Some(main) = parse_repo_config(&text).remove("main") {
                        global_exclude.extend(main.exclude);
                    }
                }
            }
        }
        let patterns = |list: &[String]| -> Vec<glob::Pattern> {
            list.iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect()
        };
        let global = patterns(&global_exclude);

        let mut seen_repos = 0usize;
        for (cache, manager) in CACHES {
            for (id, repodata, base) in repo_dirs(root, cache, manager) {
                let conf = config.get(&id);
                if configured && !conf.is_some_and(|c| c.enabled) {
                    continue;
                }
                seen_repos += 1;
                if seen_repos > MAX_REPOS {
                    out.warnings.push(format!(
                        "more than {MAX_REPOS} repository caches; the rest are not read"
                    ));
                    return out;
                }
                let excluded = patterns(conf.map(|c| c.exclude.as_slice()).unwrap_or(&[]));
                let is_excluded = |name: &str| {
                    global
                        .iter()
                        .chain(excluded.iter())
                        .any(|p| p.matches(name))
                };
                let repomd_path = join(&repodata, "repomd.xml");
                let repomd = match root.read_string_capped(&repomd_path, MAX_REPOMD_BYTES) {
                    Ok(t) => parse_repomd(&t),
                    Err(e) => {
                        out.warnings.push(e.to_string());
                        continue;
                    }
                };
                out.repos.push(Repo {
                    id: id.clone(),
                    manager,
                });
                let index = out.repos.len() - 1;
                let mut read_primary = false;
                if let Some(href) = repomd.get("primary") {
                    // dnf and zypper keep the file the href names; yum
                    // keeps it beside repomd.xml under its own name.
                    let path = locate(root, &base, &repodata, href);
                    match path.as_deref().map(|p| (p, open_metadata(root, p))) {
                        Some((_, Ok(Some(reader)))) => {
                            let offers = &mut out.offers;
                            let result = scan_primary(reader, installed, &mut |n, a, v| {
                                if !is_excluded(n) {
                                    offers.entry(n.to_string()).or_default().push(Offer {
                                        evr: v,
                                        arch: a.to_string(),
                                        repo: index,
                                    });
                                }
                            });
                            match result {
                                Ok(()) => read_primary = true,
                                Err(e) => out
                                    .warnings
                                    .push(format!("{}: {e}", path.unwrap_or_default())),
                            }
                        }
                        Some((p, Ok(None))) if *manager != "yum" => {
                            out.warnings.push(format!("{p}: compression not read here"));
                        }
                        Some((_, Ok(None))) => {}
                        Some((_, Err(e))) => out.warnings.push(e),
                        None => {}
                    }
                }
                if !read_primary && *manager == "yum" {
                    // yum's primary list is SQLite, unpacked into gen/.
                    let db = join(&base, "gen/primary_db.sqlite");
                    match primary_sqlite(root, &db, installed) {
                        Ok(rows) => {
                            read_primary = true;
                            for (n, a, v) in rows.into_iter().filter(|(n, ..)| !is_excluded(n)) {
                                out.offers.entry(n).or_default().push(Offer {
                                    evr: v,
                                    arch: a,
                                    repo: index,
                                });
                            }
                        }
                        Err(e) if root.exists(&db) => out.warnings.push(e),
                        Err(_) => {}
                    }
                }
                if !read_primary {
                    out.warnings
                        .push(format!("{repomd_path}: no package list of {id} readable"));
                }
                if let Some(href) = repomd.get("updateinfo") {
                    let Some(path) = locate(root, &base, &repodata, href) else {
                        continue;
                    };
                    match open_metadata(root, &path) {
                        Ok(Some(reader)) => {
                            let fixes = &mut out.fixes;
                            if let Err(e) = scan_updateinfo(reader, installed, &mut |n, f| {
                                fixes.entry(n.to_string()).or_default().push(f)
                            }) {
                                out.warnings.push(format!("{path}: {e}"));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => out.warnings.push(e),
                    }
                }
            }
        }
        out
    }

    /// What dnf check-update would offer for an installed package (the
    /// newest installed version of that name), or None when no enabled
    /// repository lists the name.
    pub fn candidate(&self, name: &str, arch: &str, installed: &str) -> Option<Candidate> {
        let offers = self.offers.get(name)?;
        let best = offers
            .iter()
            .filter(|o| compatible(arch, &o.arch))
            .max_by(|a, b| rpm_evr_compare(&a.evr, &b.evr))?;
        let newer = rpm_evr_compare(&best.evr, installed) == Ordering::Greater;
        let security = newer
            && self.fixes.get(name).is_some_and(|fixes| {
                fixes.iter().any(|f| {
                    (f.arch.is_empty() || compatible(arch, &f.arch))
                        && rpm_evr_compare(&f.evr, installed) == Ordering::Greater
                        && rpm_evr_compare(&f.evr, &best.evr) != Ordering::Greater
                })
            });
        let repo = self.repos.get(best.repo);
        Some(if newer {
            Candidate {
                version: best.evr.clone(),
                newer,
                security,
                archive: repo.map(|r| r.id.clone()).unwrap_or_default(),
                manager: repo.map(|r| r.manager).unwrap_or("dnf"),
            }
        } else {
            Candidate {
                version: installed.to_string(),
                newer: false,
                security: false,
                archive: String::new(),
                manager: repo.map(|r| r.manager).unwrap_or("dnf"),
            }
        })
    }
}

/// The file a repomd href names: under the repository's base (dnf,
/// zypper), else beside repomd.xml under its file name (yum).
fn locate(root: &HostRoot, base: &str, repodata: &str, href: &str) -> Option<String> {
    let under_base = join(base, href);
    if root.exists(&under_base) {
        return Some(under_base);
    }
    let name = href.rsplit('/').next()?;
    let beside = join(repodata, name);
    root.exists(&beside).then_some(beside)
}

/// (name, arch, evr) of the wanted packages in yum's primary SQLite list.
fn primary_sqlite(
    root: &HostRoot,
    path: &str,
    wanted: &HashSet<String>,
) -> Result<Vec<(String, String, String)>, String> {
    // Opened (without blocking, regular files only) before SQLite sees it.
    let (_file, fs_path) = root.open_for_library(path).map_err(|e| e.to_string())?;
    let uri = format!("file:{}?immutable=1", fs_path.display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db =
        rusqlite::Connection::open_with_flags(uri, flags).map_err(|e| format!("{path}: {e}"))?;
    let mut stmt = db
        .prepare("SELECT name, arch, epoch, version, release FROM packages")
        .map_err(|e| format!("{path}: {e}"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            ))
        })
        .map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for row in rows.take(2_000_000) {
        let (name, arch, epoch, version, release) = row.map_err(|e| format!("{path}: {e}"))?;
        if wanted.contains(&name) && arch != "src" {
            out.push((name, arch, evr(&epoch, &version, &release)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1733000000</revision>
  <data type="primary">
    <checksum type="sha256">aa</checksum>
    <location href="repodata/aa-primary.xml.gz"/>
    <size>100</size>
  </data>
  <data type="updateinfo">
    <location href="repodata/bb-updateinfo.xml.zst"/>
  </data>
  <data type="filelists"><location href="../../etc/shadow"/></data>
  <data type="other"><location href="/etc/shadow"/></data>
</repomd>"#;

    #[test]
    fn repomd_names_the_lists_and_refuses_climbing_out() {
        let m = parse_repomd(REPOMD);
        assert_eq!(m["primary"], "repodata/aa-primary.xml.gz");
        assert_eq!(m["updateinfo"], "repodata/bb-updateinfo.xml.zst");
        assert!(!m.contains_key("filelists"));
        assert!(!m.contains_key("other"));
        assert!(parse_repomd("<repomd><data type=").is_empty());
    }

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="4">
<package type="rpm">
  <name>openssl</name>
  <arch>x86_64</arch>
  <version epoch="1" ver="3.0.7" rel="27.el9"/>
  <summary>Utilities from the general purpose cryptography library with TLS implementation</summary>
  <format><rpm:license>ASL 2.0</rpm:license><rpm:provides><rpm:entry name="openssl" flags="EQ" epoch="1" ver="3.0.7" rel="27.el9"/></rpm:provides></format>
</package>
<package type="rpm">
  <name>openssl</name>
  <arch>src</arch>
  <version epoch="1" ver="9.9" rel="1"/>
</package>
<package type="rpm">
  <name>bash</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="5.1.8" rel="9.el9"/>
</package>
<package type="rpm">
  <name>unrelated</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1" rel="1"/>
</package>
</metadata>"#;

    fn wanted(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn primary_lists_wanted_binary_packages() {
        let mut got = Vec::new();
        scan_primary(
            PRIMARY.as_bytes(),
            &wanted(&["openssl", "bash"]),
            &mut |n, a, v| got.push((n.to_string(), a.to_string(), v)),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("openssl".into(), "x86_64".into(), "1:3.0.7-27.el9".into()),
                ("bash".into(), "x86_64".into(), "5.1.8-9.el9".into()),
            ]
        );
        let cut = &PRIMARY[..PRIMARY.len() / 2];
        let mut n = 0;
        // A cut-short list gives what it holds or an error, never a panic.
        let _ = scan_primary(cut.as_bytes(), &wanted(&["openssl"]), &mut |_, _, _| n += 1);
        assert!(scan_primary(&b"<a><b></a>"[..], &wanted(&[]), &mut |_, _, _| {}).is_err());
    }

    const UPDATEINFO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update from="security@redhat.com" status="final" type="security" version="4">
    <id>RHSA-2024:2447</id>
    <title>Moderate: openssl security and bug fix update</title>
    <pkglist><collection short="rhel-9"><name>rhel-9</name>
      <package name="openssl" version="3.0.7" release="27.el9" epoch="1" arch="x86_64"><filename>openssl-3.0.7-27.el9.x86_64.rpm</filename></package>
    </collection></pkglist>
  </update>
  <update from="x" status="final" type="bugfix" version="4">
    <id>RHBA-2024:1</id>
    <pkglist><collection><package name="bash" version="5.1.8" release="9.el9" epoch="0" arch="x86_64"/></collection></pkglist>
  </update>
</updates>"#;

    #[test]
    fn updateinfo_keeps_security_advisories_only() {
        let mut got = Vec::new();
        scan_updateinfo(
            UPDATEINFO.as_bytes(),
            &wanted(&["openssl", "bash"]),
            &mut |n, f| got.push((n.to_string(), f)),
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "openssl");
        assert_eq!(got[0].1.evr, "1:3.0.7-27.el9");
        assert_eq!(got[0].1.advisory, "RHSA-2024:2447");
    }

    #[test]
    fn repo_files_and_cache_names() {
        let conf = parse_repo_config(
            "[baseos]\nname=BaseOS\nenabled=1\nexclude=kernel* , firefox\n\n[extras]\nenabled = 0\n# [commented]\n[main]\nexcludepkgs=foo\n",
        );
        assert!(conf["baseos"].enabled);
        assert_eq!(conf["baseos"].exclude, ["kernel*", "firefox"]);
        assert!(!conf["extras"].enabled);
        assert_eq!(conf["main"].exclude, ["foo"]);
        assert!(!conf.contains_key("commented"));
        assert_eq!(
            dnf_repo_id("fedora-updates-a1b2c3d4e5f6a7b8"),
            "fedora-updates"
        );
        assert_eq!(dnf_repo_id("baseos-0123456789abcdef"), "baseos");
        assert_eq!(dnf_repo_id("my-repo"), "my-repo");
    }

    fn repos_with(offers: &[(&str, &str, &str)], fixes: &[(&str, &str)]) -> Repos {
        let mut r = Repos {
            repos: vec![Repo {
                id: "baseos".into(),
                manager: "dnf",
            }],
            ..Repos::default()
        };
        for (n, a, v) in offers {
            r.offers.entry(n.to_string()).or_default().push(Offer {
                evr: v.to_string(),
                arch: a.to_string(),
                repo: 0,
            });
        }
        for (n, v) in fixes {
            r.fixes.entry(n.to_string()).or_default().push(Fix {
                evr: v.to_string(),
                arch: "x86_64".into(),
                advisory: "RHSA-1".into(),
            });
        }
        r
    }

    #[test]
    fn candidates_follow_rpm_ordering_and_advisories() {
        let r = repos_with(
            &[
                ("openssl", "x86_64", "1:3.0.7-27.el9"),
                ("openssl", "x86_64", "1:3.0.7-24.el9"),
                ("openssl", "i686", "1:3.0.9-1.el9"),
                ("tzdata", "noarch", "2024a-1.el9"),
                ("bash", "x86_64", "5.1.8-9.el9"),
            ],
            &[("openssl", "1:3.0.7-25.el9")],
        );
        let c = r.candidate("openssl", "x86_64", "1:3.0.7-24.el9").unwrap();
        assert_eq!(c.version, "1:3.0.7-27.el9", "i686 does not update x86_64");
        assert!(c.newer && c.security);
        assert_eq!(c.archive, "baseos");
        // An installed version past the advisory's fix: newer, not security.
        let c = r.candidate("openssl", "x86_64", "1:3.0.7-26.el9").unwrap();
        assert!(c.newer && !c.security);
        // The epoch wins over the version.
        assert!(!r.candidate("openssl", "x86_64", "2:1.0-1").unwrap().newer);
        let c = r.candidate("tzdata", "noarch", "2023c-1.el9").unwrap();
        assert!(c.newer && !c.security);
        let c = r.candidate("bash", "x86_64", "5.1.8-9.el9").unwrap();
        assert!(!c.newer);
        assert_eq!(c.version, "5.1.8-9.el9");
        assert!(r.candidate("absent", "x86_64", "1-1").is_none());
    }

    /// Cases from rpm's own test suite (tests/rpmvercmp.at).
    #[test]
    fn rpm_ordering_matches_rpms_test_suite() {
        let cases = [
            ("1.0", "1.0", 0),
            ("1.0", "2.0", -1),
            ("2.0.1", "2.0.1a", -1),
            ("5.5p1", "5.5p2", -1),
            ("5.5p10", "5.5p1", 1),
            ("10xyz", "10.1xyz", -1),
            ("xyz10", "xyz10.1", -1),
            ("1.0aa", "1.0a", 1),
            ("6.0.rc1", "6.0", 1),
            ("10b2", "10a1", 1),
            ("1.0~rc1", "1.0", -1),
            ("1.0~rc1", "1.0~rc2", -1),
            ("1.0^", "1.0", 1),
            ("1.0^git1", "1.0^git2", -1),
            ("1.0~rc1^git1", "1.0~rc1", 1),
            ("1:1.0-1", "2.0-1", 1),
            ("1.0-1", "1.0-2", -1),
        ];
        for (a, b, want) in cases {
            let got = match rpm_evr_compare(a, b) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            };
            assert_eq!(got, want, "{a} vs {b}");
        }
    }
}
