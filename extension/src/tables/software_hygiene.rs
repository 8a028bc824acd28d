//! `software_hygiene`: every application on the host, whenever it arrived,
//! with what a team cleaning up a fleet asks of it: is it outdated (and is
//! the newer version a security fix), is it past its end of life, is it
//! redundant with another app doing the same job, is it used at all.
//!
//! From files only, no network: APT's package lists, dnf/yum/zypper's
//! repository caches, Homebrew's API cache and Firefox's downloaded update
//! for "outdated" ([`crate::host::apt`], [`crate::host::rpmmd`],
//! [`crate::host::app_updates`]), the end-of-life and function catalogs
//! (`catalog/hygiene/`), the remote access and security agent catalogs,
//! executables' access times (where the mount records them), running
//! processes and the desktops' recent-use records ([`crate::host::recent`])
//! for "last used". One row per item of the same inventory
//! `new_software_since_enrollment` reads (services and autostart entries
//! are not applications and are left out), plus one row for the operating
//! system itself.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;

use crate::agents::AgentCatalog;
use crate::eol::{self, Answer};
use crate::host::app_updates::{self, Homebrew};
use crate::host::apt::Lists;
use crate::host::config;
use crate::host::identity::FileKey;
use crate::host::packages::parse_dpkg_status;
use crate::host::recent::Recent;
use crate::host::rpmmd::Repos;
use crate::host::Candidate;
use crate::inventory::{self, Software};
use crate::root::{join, paths, HostRoot};
use crate::table::{flag, text, Column, ColumnType, GenerateContext, Row, Table, TableOutput};
use crate::tables::new_software_since_enrollment::remote_access_tool;

pub struct SoftwareHygiene;

const COLUMNS: &[Column] = &[
    Column::new("name", ColumnType::Text, "Package, bundle id, file or extension name; for the operating system, its name."),
    Column::new("version", ColumnType::Text, "Installed version when known."),
    Column::new("source", ColumnType::Text, "os, deb, rpm, snap, flatpak, portable, browser_extension, app or homebrew."),
    Column::new("path", ColumnType::Text, "Where it was found."),
    Column::new("publisher", ColumnType::Text, "Package maintainer or vendor when known."),
    Column::new("managed", ColumnType::Integer, "1 if a software.managed rule of the policy matches it, else 0."),
    Column::new("remote_access_tool", ColumnType::Text, "Remote access catalog id when it is a remote access tool."),
    Column::new("function", ColumnType::Text, "What it is for: remote_access, vpn, password_manager, cloud_sync, messaging, browser, or a security agent's kind (edr, antivirus, dfir, telemetry); empty when the catalogs do not say."),
    Column::new("redundant_with", ColumnType::Text, "Other installed apps of the same function, comma-separated, when the function counts as redundant (remote_access, vpn, edr, antivirus by default; policy software.functions); empty otherwise."),
    Column::new("latest_version", ColumnType::Text, "The version the package manager would install now: APT's candidate (its lists and pins), dnf/yum/zypper's newest in an enabled repository cache, Homebrew's API cache, or the update Firefox downloaded; NULL when nothing on the host tells."),
    Column::new("outdated", ColumnType::Integer, "1 if latest_version is newer than the installed one, 0 if not, NULL when nothing on the host offers it (no list or repository cache names it, a cask that updates itself, an app without update records)."),
    Column::new("security_update", ColumnType::Integer, "1 if the newer version comes from a security archive (Debian-Security, *-security) or a security advisory of the repository's updateinfo names it (RPM), 0 if not, NULL when not outdated or unknown."),
    Column::new("security_pending_since", ColumnType::BigInt, "For a pending security update: since when postern has seen it pending, in Unix seconds (remembered in pending_updates.json beside the enrollment baseline, since APT keeps no such history); NULL otherwise, or when postern cannot keep state (not root)."),
    Column::new("outdated_source", ColumnType::Text, "What outdated was read from, with where latest_version comes from: apt (bookworm-security), dnf, yum or zypper (the repository id), homebrew (API cache), firefox (a downloaded update waiting for a restart). As of the last time the package manager refreshed its metadata."),
    Column::new("eol", ColumnType::Integer, "1 if past its end of life (end of free security support), 0 if not, NULL when the end-of-life catalog does not know it."),
    Column::new("eol_date", ColumnType::Text, "The last day of support (YYYY-MM-DD) when published; for a runtime the distribution packages, the distribution's."),
    Column::new("last_used", ColumnType::BigInt, "When it was last used, in Unix seconds: now when one of its executables is running, else the latest of its executables' access time (where the mount records them, not noatime), the desktop's recently-used records (recently-used.xbel, KDE RecentDocuments) for its programs and macOS's per-app recent documents; NULL when nothing tells."),
    Column::new("unused_days", ColumnType::Integer, "Whole days since last_used."),
    Column::new("reason", ColumnType::Text, "One line a technician can act on: what is wrong and what to do; empty when nothing is."),
];

/// Functions redundant by default when two apps have them.
const REDUNDANT_BY_DEFAULT: &[&str] = &["remote_access", "vpn", "edr", "antivirus"];
/// Sources whose updates something on the host knows of.
const UPDATABLE: &[&str] = &["deb", "rpm", "homebrew", "portable", "app"];
/// Days without use after which an app is reported unused.
const UNUSED_DAYS: i64 = 90;
/// Executables of one package whose times are read, at most.
const MAX_EXECUTABLES: usize = 64;

#[derive(Debug, Deserialize)]
struct FunctionsFile {
    apps: Vec<FunctionApp>,
}

#[derive(Debug, Deserialize)]
struct FunctionApp {
    id: String,
    function: String,
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    bundle_ids: Vec<String>,
}

fn function_apps() -> &'static [FunctionApp] {
    static APPS: LazyLock<Vec<FunctionApp>> = LazyLock::new(|| {
        crate::catalog::embedded::HYGIENE
            .iter()
            .filter(|(name, _)| name.starts_with("functions"))
            .filter_map(|(_, text)| serde_json::from_str::<FunctionsFile>(text).ok())
            .flat_map(|f| f.apps)
            .collect()
    });
    &APPS
}

/// What an item is for, and the id it is known by in that function.
fn function_of(
    sw: &Software,
    tool: Option<&str>,
    agents: Option<&AgentCatalog>,
) -> Option<(String, String)> {
    if let Some(t) = tool {
        return Some(("remote_access".into(), t.to_string()));
    }
    if let Some(agents) = agents {
        for a in &agents.agents {
            let hit = match sw.source {
                "deb" | "rpm" => a.linux.packages.contains(&sw.name),
                "app" => a.macos.bundle_ids.contains(&sw.name),
                _ => false,
            };
            if hit {
                return Some((a.kind.as_str().to_string(), a.id.clone()));
            }
        }
    }
    let qualified = format!("{}:{}", sw.source, sw.name);
    function_apps().iter().find_map(|app| {
        let hit = match sw.source {
            "app" => app.bundle_ids.contains(&sw.name),
            _ => app
                .packages
                .iter()
                .any(|p| *p == qualified || (!p.contains(':') && *p == sw.name)),
        };
        hit.then(|| (app.function.clone(), app.id.clone()))
    })
}

/// The operating system: (os-release ID or `macos`, version, name).
fn operating_system(root: &HostRoot) -> Option<(String, String, String, &'static str)> {
    if let Ok(bytes) = root.read_capped(paths::MACOS_SYSTEM_VERSION, 1 << 20) {
        let plist = crate::host::plists::parse(&bytes).ok()?;
        let dict = plist.as_dictionary()?;
        let version = dict.get("ProductVersion")?.as_string()?.to_string();
        let name = dict
            .get("ProductName")
            .and_then(plist::Value::as_string)
            .unwrap_or("macOS");
        return Some((
            "macos".into(),
            version.clone(),
            format!("{name} {version}"),
            paths::MACOS_SYSTEM_VERSION,
        ));
    }
    let (text, path) = [paths::OS_RELEASE, paths::OS_RELEASE_USR]
        .into_iter()
        .find_map(|p| root.read_string_capped(p, 64 << 10).ok().map(|t| (t, p)))?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    let id = field("ID")?;
    let version = field("VERSION_ID").unwrap_or_default();
    let name = field("PRETTY_NAME").unwrap_or_else(|| id.clone());
    Some((id, version, name, path))
}

/// The executables a deb package installed (from dpkg's file list), in the
/// usual program directories.
fn deb_executables(root: &HostRoot, name: &str, arch: &str) -> Vec<String> {
    let list = [format!("{name}:{arch}.list"), format!("{name}.list")]
        .into_iter()
        .find_map(|f| {
            root.read_string_capped(&join(paths::DPKG_INFO, &f), 4 << 20)
                .ok()
        });
    let Some(list) = list else {
        return Vec::new();
    };
    // Programs first: a package's many helper files must not crowd out
    // the command people run.
    const DIRS: [&str; 8] = [
        "/usr/bin/",
        "/usr/sbin/",
        "/bin/",
        "/sbin/",
        "/usr/games/",
        "/usr/local/bin/",
        "/usr/libexec/",
        "/opt/",
    ];
    let mut candidates: Vec<(usize, &str)> = list
        .lines()
        .filter_map(|l| DIRS.iter().position(|d| l.starts_with(d)).map(|i| (i, l)))
        .collect();
    candidates.sort_by_key(|(i, _)| *i);
    candidates
        .into_iter()
        .map(|(_, l)| l)
        .filter(|l| {
            root.metadata(l)
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
        .take(MAX_EXECUTABLES)
        .map(String::from)
        .collect()
}

/// The executables that stand for an item when asking whether it is used.
fn executables(
    root: &HostRoot,
    sw: &Software,
    arch: Option<&str>,
    bundles: &HashMap<String, String>,
) -> Vec<String> {
    match sw.source {
        "deb" => deb_executables(root, &sw.name, arch.unwrap_or("")),
        "portable" => sw.path.iter().cloned().collect(),
        "app" => bundles.get(&sw.name).cloned().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Per installed RPM name: the architecture and the newest version.
type NewestRpms = HashMap<String, (String, String)>;

fn newest_rpms(headers: Vec<(crate::host::rpm::RpmHeader, &'static str)>) -> NewestRpms {
    let mut out: HashMap<String, (String, String)> = HashMap::new();
    for (h, _) in headers {
        let evr = h.evr();
        let arch = h.arch.clone().unwrap_or_default();
        match out.get_mut(&h.name) {
            Some(have)
                if rpm_version::rpm_evr_compare(&evr, &have.1) != std::cmp::Ordering::Greater => {}
            Some(have) => *have = (arch, evr),
            None => {
                out.insert(h.name, (arch, evr));
            }
        }
    }
    out
}

/// What the remembered RPM repository answer depends on: the repository
/// configuration and every cached repomd.xml and metadata directory.
fn rpm_metadata_keys(root: &HostRoot) -> Vec<Option<FileKey>> {
    let version = |p: &str| root.metadata(p).ok().map(|m| FileKey::of(&m));
    let mut keys = Vec::new();
    let walk = |dir: &str, depth: usize, keys: &mut Vec<Option<FileKey>>| {
        let mut stack = vec![(dir.to_string(), depth)];
        while let Some((d, left)) = stack.pop() {
            keys.push(version(&d));
            let mut names = root.list_dir(&d, 4096).unwrap_or_default();
            names.sort();
            for n in names {
                let p = join(&d, &n);
                if n == "repomd.xml" || n.ends_with(".repo") || n.ends_with(".conf") {
                    keys.push(version(&p));
                } else if left > 0 && root.metadata(&p).is_ok_and(|m| m.is_dir()) {
                    stack.push((p, left - 1));
                }
            }
        }
    };
    for (dir, depth) in [
        ("/etc/yum.repos.d", 0),
        ("/etc/zypp/repos.d", 0),
        ("/etc/dnf", 0),
        ("/etc/yum.conf", 0),
        ("/var/cache/dnf", 2),
        ("/var/cache/libdnf5", 2),
        ("/var/cache/zypp/raw", 2),
        ("/var/cache/yum", 4),
    ] {
        walk(dir, depth, &mut keys);
    }
    keys
}

/// The executable of a Firefox installed outside a package manager (a
/// tarball's `firefox`, the macOS app), whose own updater keeps a record.
fn firefox_exe(sw: &Software, bundles: &HashMap<String, String>) -> Option<String> {
    match sw.source {
        "app" if sw.name == "org.mozilla.firefox" => bundles.get(&sw.name).cloned(),
        "portable" => sw
            .path
            .clone()
            .filter(|p| crate::root::basename(p) == "firefox"),
        _ => None,
    }
}

/// One row in the making.
struct Item {
    sw: Software,
    managed: bool,
    tool: Option<String>,
    function: Option<(String, String)>,
    candidate: Option<Candidate>,
    eol: Option<Answer>,
    last_used: Option<i64>,
}

/// "end of life: Debian 11 ended 2026-08-31".
fn eol_reason(a: &Answer) -> String {
    format!(
        "end of life: {} {} ended {}",
        a.product,
        a.release,
        a.date
            .as_deref()
            .unwrap_or("before the oldest release listed")
    )
}

fn today(now: i64) -> String {
    jiff::Timestamp::from_second(now)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

impl Table for SoftwareHygiene {
    fn name(&self) -> &'static str {
        "software_hygiene"
    }

    fn description(&self) -> &'static str {
        "Every application on the host and the operating system, whenever they arrived: outdated (and whether the update is a security fix), end of life, redundant with another app of the same function, unused, with a reason a technician can act on."
    }

    fn platforms(&self) -> &'static [&'static str] {
        &["linux", "darwin"]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn generate(&self, ctx: &GenerateContext<'_>) -> TableOutput {
        let mut warnings = Vec::new();
        let root = ctx.root;
        let today = today(ctx.now);
        let eol_catalog = match eol::embedded() {
            Ok(c) => Some(c),
            Err(e) => {
                warnings.push(e.clone());
                None
            }
        };
        let agents = AgentCatalog::embedded().ok();
        // `outdated = 1` can only hold for packages a list offers.
        let only_outdated = ctx
            .query
            .equals("outdated")
            .is_some_and(|v| v.iter().all(|x| x == "1"));
        let wants = |source: &str, name: &str| {
            ctx.query.admits("source", source)
                && ctx.query.admits("name", name)
                && (!only_outdated || UPDATABLE.contains(&source))
        };

        let mut incomplete = Vec::new();
        let software: Vec<Software> = inventory::collect(
            ctx.host,
            ctx.deadline,
            ctx.identity,
            &mut warnings,
            &mut incomplete,
        )
        .into_iter()
        .filter(|sw| !matches!(sw.source, "service" | "autostart"))
        .collect();

        // APT: the installed packages' architectures and what the lists offer.
        let version = |p: &str| root.metadata(p).ok().map(|m| FileKey::of(&m));
        let needs_apt = software
            .iter()
            .any(|s| s.source == "deb" && wants("deb", &s.name));
        let (arches, lists): (Arc<HashMap<String, String>>, Option<Arc<Lists>>) = if needs_apt {
            let arches =
                ctx.identity
                    .derived("dpkg_arches", vec![version(paths::DPKG_STATUS)], || {
                        let data = root
                            .read_capped(paths::DPKG_STATUS, 256 << 20)
                            .unwrap_or_default();
                        parse_dpkg_status(&data)
                            .into_iter()
                            .map(|e| (e.name, e.arch))
                            .collect::<HashMap<String, String>>()
                    });
            let mut keys = vec![
                version(paths::DPKG_STATUS),
                version(paths::APT_LISTS),
                version(paths::APT_PREFERENCES),
                version(paths::APT_PREFERENCES_D),
            ];
            // Every list and every pin file: an edit in place changes the
            // file's version, not its directory's.
            for dir in [paths::APT_LISTS, paths::APT_PREFERENCES_D] {
                let mut names = root.list_dir(dir, 8192).unwrap_or_default();
                names.sort();
                keys.extend(names.iter().map(|n| version(&join(dir, n))));
            }
            let installed: HashSet<String> = arches.keys().cloned().collect();
            let lists = ctx
                .identity
                .derived("apt_lists", keys, || Lists::read(root, &installed));
            warnings.extend(lists.warnings.iter().cloned());
            (arches, Some(lists))
        } else {
            (Arc::new(HashMap::new()), None)
        };

        // RPM: the installed packages' architectures and newest versions,
        // and what the enabled repositories offer.
        let needs_rpm = software
            .iter()
            .any(|s| s.source == "rpm" && wants("rpm", &s.name));
        let (rpm_installed, repos): (Arc<NewestRpms>, Option<Arc<Repos>>) = if needs_rpm {
            let db_keys = vec![
                version(paths::RPMDB_SQLITE),
                version(paths::RPMDB_SQLITE_USR),
            ];
            let installed = ctx.identity.derived("rpm_newest", db_keys, || {
                newest_rpms(crate::host::rpm::rpm_packages(root, &mut Vec::new()))
            });
            let names: HashSet<String> = installed.keys().cloned().collect();
            let repos = ctx
                .identity
                .derived("rpm_repos", rpm_metadata_keys(root), || {
                    Repos::read(root, &names)
                });
            warnings.extend(repos.warnings.iter().cloned());
            (installed, Some(repos))
        } else {
            (Arc::new(HashMap::new()), None)
        };

        // Homebrew's API cache and the homes' recent-use records.
        let homes: Vec<String> = ctx
            .host
            .accounts()
            .homes
            .iter()
            .map(|(h, _)| h.clone())
            .collect();
        let brew_names = |cask: bool| -> HashSet<String> {
            software
                .iter()
                .filter(|s| s.source == "homebrew" && wants("homebrew", &s.name))
                .filter_map(|s| match (cask, s.name.strip_suffix(" (cask)")) {
                    (true, Some(token)) => Some(token.to_string()),
                    (false, None) => Some(s.name.clone()),
                    _ => None,
                })
                .collect()
        };
        let (formulae, casks) = (brew_names(false), brew_names(true));
        // Parsed once per version of the cache files (tens of MB of JSON).
        let homebrew = (!formulae.is_empty() || !casks.is_empty()).then(|| {
            let newest = Homebrew::newest(root, &homes);
            let files = newest
                .each_ref()
                .map(|n| n.as_ref().map(|(p, _)| p.clone()));
            let mut keys: Vec<Option<FileKey>> = newest
                .iter()
                .map(|n| n.as_ref().map(|(_, m)| FileKey::of(m)))
                .collect();
            // What is installed: a keg or cask added or removed changes
            // its directory.
            for prefix in paths::HOMEBREW_PREFIXES {
                for kind in ["Cellar", "Caskroom"] {
                    keys.push(version(&join(prefix, kind)));
                }
            }
            let brew = ctx.identity.derived("homebrew_api", keys, || {
                Homebrew::read(root, &files, &formulae, &casks)
            });
            warnings.extend(brew.warnings.iter().cloned());
            brew
        });
        let recent = Recent::read(root, &homes, ctx.now);

        // Access times: which mounts record them.
        let mounts = root
            .read_string_capped(paths::MOUNTINFO, 4 << 20)
            .map(|t| config::parse_mountinfo(&t))
            .unwrap_or_default();
        let running: HashSet<&str> = ctx
            .host
            .processes()
            .iter()
            .filter_map(|p| p.exe.as_deref())
            .collect();
        let bundles: HashMap<String, String> = ctx
            .host
            .bundles()
            .iter()
            .filter_map(|b| {
                let exe = b.executable.as_ref()?;
                Some((
                    b.bundle_id.clone(),
                    format!("{}/Contents/MacOS/{exe}", b.path),
                ))
            })
            .collect();

        let mut items: Vec<Item> = Vec::new();
        for mut sw in software {
            if !wants(sw.source, &sw.name) {
                continue;
            }
            let firefox = firefox_exe(&sw, &bundles);
            if let (Some(exe), None) = (&firefox, &sw.version) {
                sw.version = app_updates::firefox_version(root, exe);
            }
            let managed = ctx.policy.policy.manages(
                &sw.name,
                sw.source,
                sw.publisher.as_deref(),
                sw.path.as_deref(),
            );
            let tool = remote_access_tool(&sw, ctx.catalog)
                .and_then(|i| ctx.catalog.tool(i))
                .map(|t| t.id.clone());
            let function = function_of(&sw, tool.as_deref(), agents);
            let arch = arches.get(&sw.name).map(String::as_str);
            let candidate = match (sw.source, &sw.version) {
                ("deb", Some(v)) => match (&lists, arch) {
                    (Some(l), Some(a)) => l.candidate(&sw.name, a, v),
                    _ => None,
                },
                // Against the newest installed version of the name: kernels
                // are installed side by side.
                ("rpm", Some(_)) => match (&repos, rpm_installed.get(&sw.name)) {
                    (Some(r), Some((a, newest))) => r.candidate(&sw.name, a, newest),
                    _ => None,
                },
                ("homebrew", Some(v)) => homebrew.as_ref().and_then(|b| b.candidate(&sw.name, v)),
                ("portable" | "app", Some(v)) => firefox
                    .as_deref()
                    .and_then(|exe| app_updates::firefox_update(root, exe, v, &homes)),
                _ => None,
            };
            if only_outdated && !candidate.as_ref().is_some_and(|c| c.newer) {
                continue;
            }
            let eol = eol_catalog.and_then(|c| {
                c.package(
                    &sw.name,
                    sw.version.as_deref(),
                    sw.publisher.as_deref(),
                    &today,
                )
            });
            let exes = executables(root, &sw, arch, &bundles);
            let last_used = if exes.iter().any(|e| running.contains(e.as_str())) {
                Some(ctx.now)
            } else {
                let atime = exes
                    .iter()
                    .filter(|e| config::atime_recorded(&mounts, e) == Some(true))
                    .filter_map(|e| root.metadata(e).ok().map(|m| m.atime()));
                let opened = exes.iter().filter_map(|e| recent.program(e));
                let bundle = (sw.source == "app")
                    .then(|| recent.bundle(&sw.name))
                    .flatten();
                atime.chain(opened).chain(bundle).max()
            };
            items.push(Item {
                sw,
                managed,
                tool,
                function,
                candidate,
                eol,
                last_used,
            });
        }

        // Redundancy: apps of one function, where the function counts.
        let rules = &ctx.policy.policy.functions;
        let mut by_function: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for item in &items {
            if let Some((f, id)) = &item.function {
                let ids = by_function.entry(f.as_str()).or_default();
                if !ids.contains(&id.as_str()) {
                    ids.push(id.as_str());
                }
            }
        }
        let redundant = |function: &str, id: &str| -> Option<String> {
            let rule = rules.get(function);
            if rule.is_some_and(|r| r.several) {
                return None;
            }
            let counts = REDUNDANT_BY_DEFAULT.contains(&function)
                || rule.is_some_and(|r| r.approved.is_some());
            let others: Vec<&str> = by_function
                .get(function)?
                .iter()
                .copied()
                .filter(|o| *o != id)
                .collect();
            if !counts || others.is_empty() {
                return None;
            }
            match rule.and_then(|r| r.approved.as_deref()) {
                Some(approved) if approved == id => None,
                _ => Some(others.join(",")),
            }
        };

        // Pending security updates: since when, remembered across runs.
        let now_pending: Vec<(String, String)> = items
            .iter()
            .filter_map(|i| {
                let c = i.candidate.as_ref().filter(|c| c.newer && c.security)?;
                Some((i.sw.name.clone(), c.version.clone()))
            })
            .collect();
        let known = crate::pending::load(ctx.state.dir(), ctx.state.owner(), &mut warnings);
        let pending = crate::pending::merge(&known, &now_pending, ctx.now);
        // Only a query that saw every deb package may forget others; an
        // audited image's state directory is read, never written.
        let complete = ctx.query.equals("name").is_none() && ctx.query.admits("source", "deb");
        let writable =
            ctx.state.explicit() || (root.is_system() && crate::policy::running_as_root());
        if complete && writable && pending != known {
            if let Err(e) = crate::pending::save(ctx.state.dir(), &pending) {
                warnings.push(format!("cannot remember pending security updates: {e}"));
            }
        }

        // The operating system, read once: its own row, and the end of life
        // of the runtimes the distribution packages.
        let os = operating_system(root);
        let os_answer = os
            .as_ref()
            .and_then(|(id, ver, ..)| eol_catalog.and_then(|c| c.os(id, ver, &today)));
        let mut rows: Vec<Row> = Vec::new();
        if let (Some((_, ver, name, path)), true) = (os, wants("os", "")) {
            if ctx.query.admits("name", &name) && !only_outdated {
                let answer = os_answer.clone();
                let reason = answer
                    .as_ref()
                    .filter(|a| a.eol)
                    .map(|a| format!("{}; upgrade to a supported release", eol_reason(a)));
                rows.push(vec![
                    text(name),
                    Some(ver),
                    text("os"),
                    text(path),
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    answer.as_ref().and_then(|a| flag(a.eol)),
                    answer.and_then(|a| a.date),
                    None,
                    None,
                    reason,
                ]);
            }
        }
        for item in &items {
            let sw = &item.sw;
            let redundant_with = item.function.as_ref().and_then(|(f, id)| redundant(f, id));
            let eol = match &item.eol {
                Some(a) if a.follows_os => os_answer.clone(),
                other => other.clone(),
            };
            let unused_days = item.last_used.map(|t| ((ctx.now - t).max(0)) / 86_400);
            let mut reasons = Vec::new();
            if let (Some(c), Some(v)) = (&item.candidate, &sw.version) {
                if c.newer {
                    reasons.push(format!(
                        "outdated: {v} → {}{}",
                        c.version,
                        if c.security { " (security)" } else { "" }
                    ));
                }
            }
            if let Some(a) = eol.as_ref().filter(|a| a.eol) {
                reasons.push(eol_reason(a));
            }
            if let Some(others) = &redundant_with {
                reasons.push(format!("redundant with {}", others.replace(',', ", ")));
            }
            if let Some(d) = unused_days.filter(|d| *d >= UNUSED_DAYS) {
                reasons.push(format!("not used for {d} days"));
            }
            let outdated = item.candidate.as_ref().map(|c| c.newer);
            rows.push(vec![
                text(sw.name.clone()),
                sw.version.clone(),
                text(sw.source),
                sw.path.clone(),
                sw.publisher.clone(),
                flag(item.managed),
                item.tool.clone(),
                item.function.as_ref().map(|(f, _)| f.clone()),
                redundant_with,
                item.candidate.as_ref().map(|c| c.version.clone()),
                outdated.and_then(flag),
                item.candidate
                    .as_ref()
                    .filter(|c| c.newer)
                    .and_then(|c| flag(c.security)),
                // Kept state only: a run that cannot remember says NULL, not "now".
                (if writable { &pending } else { &known })
                    .get(&sw.name)
                    .filter(|p| {
                        item.candidate
                            .as_ref()
                            .is_some_and(|c| c.newer && c.security && c.version == p.version)
                    })
                    .map(|p| p.since.to_string()),
                item.candidate.as_ref().map(|c| {
                    if c.archive.is_empty() {
                        c.manager.to_string()
                    } else {
                        format!("{} ({})", c.manager, c.archive)
                    }
                }),
                eol.as_ref().and_then(|a| flag(a.eol)),
                eol.and_then(|a| a.date),
                item.last_used.map(|t| t.to_string()),
                unused_days.map(|d| d.to_string()),
                (!reasons.is_empty()).then(|| reasons.join("; ")),
            ]);
        }
        TableOutput { rows, warnings }
    }
}
