//! What APT would install, from its files only: the package lists under
//! `/var/lib/apt/lists` (plain, LZ4 or gzip), their `InRelease`/`Release`
//! files, and the pins of `/etc/apt/preferences` and `preferences.d`. No
//! network, no `apt` process.
//!
//! The candidate is chosen as APT's policy does: every version of an
//! installed package gets the priority of its best source (the installed
//! version 100 from dpkg's status; an archive 500, 1 when its Release says
//! `NotAutomatic: yes`, 100 with `ButAutomaticUpgrades: yes`; a matching
//! pin overrides, package-specific pins before general ones, the first
//! match winning); going from the newest version down, a version wins only
//! with a strictly higher priority than the best so far, and once the
//! installed version is reached (below priority 1000) nothing older can
//! win. So backports (100) upgrade what was installed from them, and
//! experimental (1) never replaces what is installed. A package is outdated when its candidate is newer
//! than the installed version, which is what `apt list --upgradable` lists.
//!
//! The parsers are pure; [`Lists::read`] reads through the root, bounded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::str::FromStr;

use debversion::Version;

pub use crate::host::Candidate;
use crate::root::{join, paths, HostRoot};

/// Package list files read at most, and bytes of one list (decompressed).
const MAX_LISTS: usize = 512;
const MAX_LIST_BYTES: u64 = 1 << 30;
const MAX_PREFERENCES: usize = 256;
/// A longer line is no Packages file (descriptions wrap at 80 columns).
const MAX_LINE: usize = 1 << 20;

/// The fields of a Release file the policy reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Release {
    pub origin: String,
    pub label: String,
    pub suite: String,
    pub codename: String,
    pub version: String,
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
    /// The host the lists came from (`Pin: origin`), from the file name.
    pub site: String,
}

impl Release {
    /// A security archive: Debian's and Ubuntu's security pockets.
    pub fn is_security(&self) -> bool {
        self.label.to_ascii_lowercase().contains("security")
            || self.suite.ends_with("-security")
            || self.codename.ends_with("-security")
    }

    /// APT's default priority for this archive.
    pub fn default_priority(&self) -> i32 {
        match (self.not_automatic, self.but_automatic_upgrades) {
            (true, true) => 100,
            (true, false) => 1,
            _ => 500,
        }
    }

    /// The name apt shows for the archive (`bookworm-security`).
    pub fn name(&self) -> &str {
        if self.suite.is_empty() {
            &self.codename
        } else {
            &self.suite
        }
    }
}

/// Parses a Release or InRelease file (the signature's armour is skipped).
/// Pure.
pub fn parse_release(text: &str, site: &str) -> Release {
    let mut r = Release {
        site: site.to_string(),
        ..Release::default()
    };
    let mut lines = text.lines().peekable();
    if lines
        .peek()
        .is_some_and(|l| l.starts_with("-----BEGIN PGP SIGNED MESSAGE"))
    {
        // Armour headers up to the first blank line.
        for l in lines.by_ref() {
            if l.trim().is_empty() {
                break;
            }
        }
    }
    for line in lines {
        if line.starts_with("-----BEGIN PGP SIGNATURE") || line.trim().is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key {
            "Origin" => r.origin = value,
            "Label" => r.label = value,
            "Suite" => r.suite = value,
            "Codename" => r.codename = value,
            "Version" => r.version = value,
            "NotAutomatic" => r.not_automatic = value.eq_ignore_ascii_case("yes"),
            "ButAutomaticUpgrades" => r.but_automatic_upgrades = value.eq_ignore_ascii_case("yes"),
            _ => {}
        }
    }
    r
}

/// A pattern of a preferences file, as APT's `ExpressionMatches` reads
/// it: `/.../` is a POSIX extended regular expression, case-insensitive
/// and unanchored; anything else is a shell pattern (`fnmatch`). Compiled
/// once; a regular expression that does not compile (or would take more
/// than a megabyte) matches nothing.
#[derive(Clone, Debug)]
pub struct Expr {
    pub source: String,
    kind: ExprKind,
}

#[derive(Clone, Debug)]
enum ExprKind {
    Regex(regex::Regex),
    Glob(glob::Pattern),
    Never,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Expr {}

impl Expr {
    pub fn new(source: &str) -> Expr {
        let inner = source
            .strip_prefix('/')
            .and_then(|s| s.strip_suffix('/'))
            .filter(|s| !s.is_empty());
        let kind = match inner {
            Some(re) => regex::RegexBuilder::new(re)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_or(ExprKind::Never, ExprKind::Regex),
            None => glob::Pattern::new(source).map_or(ExprKind::Never, ExprKind::Glob),
        };
        Expr {
            source: source.to_string(),
            kind,
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        match &self.kind {
            ExprKind::Regex(r) => r.is_match(value),
            ExprKind::Glob(g) => g.matches(value),
            ExprKind::Never => false,
        }
    }

    fn wild(&self) -> bool {
        !matches!(self.kind, ExprKind::Glob(_)) || self.source.contains(['*', '?', '['])
    }
}

/// What a pin matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinTarget {
    /// `Pin: release a=..., n=..., o=..., l=..., v=..., c=...` (every
    /// given field must match; a bare value is the version).
    Release(Vec<(char, Expr)>),
    /// `Pin: origin host`.
    Origin(String),
    /// `Pin: version 1.2*`.
    Version(Expr),
}

/// One stanza of an APT preferences file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// Package names or patterns (`*`, `foo*`, `/regex/`); one of them
    /// must match.
    pub packages: Vec<Expr>,
    pub target: PinTarget,
    pub priority: i32,
}

impl Pin {
    /// Names a package without a wildcard: such pins come first.
    fn specific(&self) -> bool {
        self.packages.iter().all(|p| !p.wild())
    }

    fn names(&self, package: &str) -> bool {
        self.packages.iter().any(|p| p.matches(package))
    }

    fn matches(&self, release: Option<&Release>, version: &str) -> bool {
        match &self.target {
            PinTarget::Version(v) => v.matches(version),
            PinTarget::Origin(site) => release.is_some_and(|r| r.site == *site),
            PinTarget::Release(fields) => {
                // The installed version's status file is no release.
                let Some(r) = release else {
                    return false;
                };
                fields.iter().all(|(k, v)| {
                    let have = match k {
                        'a' => &r.suite,
                        'n' => &r.codename,
                        'o' => &r.origin,
                        'l' => &r.label,
                        'v' => &r.version,
                        _ => return false,
                    };
                    v.matches(have)
                })
            }
        }
    }
}

/// Parses an APT preferences file. Stanzas it cannot read (no Package, no
/// Pin, no numeric priority) are left out and counted. Pure.
pub fn parse_preferences(text: &str) -> (Vec<Pin>, usize) {
    let mut pins = Vec::new();
    let mut skipped = 0;
    for stanza in text.split("\n\n") {
        let mut packages = None;
        let mut target = None;
        let mut priority = None;
        for line in stanza.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "Package" => {
                    packages = Some(value.split_whitespace().map(Expr::new).collect::<Vec<_>>())
                }
                "Pin" => target = parse_pin(value),
                "Pin-Priority" => priority = value.parse::<i32>().ok(),
                _ => {}
            }
        }
        match (packages, target, priority) {
            (Some(packages), Some(target), Some(priority)) if !packages.is_empty() => {
                pins.push(Pin {
                    packages,
                    target,
                    priority,
                })
            }
            (None, None, None) => {}
            _ => skipped += 1,
        }
    }
    (pins, skipped)
}

fn parse_pin(value: &str) -> Option<PinTarget> {
    let (kind, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    let rest = rest.trim();
    match kind {
        "origin" => Some(PinTarget::Origin(rest.trim_matches('"').to_string())),
        "version" => Some(PinTarget::Version(Expr::new(rest))),
        "release" => {
            let mut fields = Vec::new();
            for part in rest.split(',') {
                let part = part.trim();
                match part.split_once('=') {
                    Some((k, v)) if k.trim().len() == 1 => {
                        fields.push((k.trim().chars().next()?, Expr::new(v.trim())))
                    }
                    // `Pin: release 12` is `v=12`.
                    None if !part.is_empty() => fields.push(('v', Expr::new(part))),
                    _ => return None,
                }
            }
            Some(PinTarget::Release(fields))
        }
        _ => None,
    }
}

/// The priority of `version` of `package` from `release` (None: dpkg's
/// status, the installed version).
pub fn priority(pins: &[Pin], release: Option<&Release>, package: &str, version: &str) -> i32 {
    let specific = pins.iter().filter(|p| p.specific());
    let general = pins.iter().filter(|p| !p.specific());
    if let Some(pin) = specific
        .chain(general)
        .find(|p| p.names(package) && p.matches(release, version))
    {
        return pin.priority;
    }
    release.map_or(100, Release::default_priority)
}

/// Calls `found(name, arch, version)` for every paragraph of a Packages
/// file whose package is in `wanted`. Only three fields are read.
pub fn scan_packages(
    reader: impl BufRead,
    wanted: &HashSet<String>,
    found: &mut dyn FnMut(&str, &str, &str),
) -> std::io::Result<()> {
    let (mut name, mut version, mut arch) = (String::new(), String::new(), String::new());
    let mut flush = |name: &mut String, version: &mut String, arch: &mut String| {
        if !name.is_empty() && !version.is_empty() && wanted.contains(name.as_str()) {
            found(name, arch, version);
        }
        name.clear();
        version.clear();
        arch.clear();
    };
    let mut reader = reader;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        if buf.len() > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE} bytes"),
            ));
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.is_empty() {
            flush(&mut name, &mut version, &mut arch);
        } else if let Some(v) = line.strip_prefix(b"Package:") {
            name = String::from_utf8_lossy(v.trim_ascii()).into_owned();
        } else if let Some(v) = line.strip_prefix(b"Version:") {
            version = String::from_utf8_lossy(v.trim_ascii()).into_owned();
        } else if let Some(v) = line.strip_prefix(b"Architecture:") {
            arch = String::from_utf8_lossy(v.trim_ascii()).into_owned();
        }
    }
    flush(&mut name, &mut version, &mut arch);
    Ok(())
}

/// A version of a package some archive offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub version: String,
    /// Index into [`Lists::releases`].
    pub release: usize,
}

/// Every offer of the installed packages, by (name, architecture).
#[derive(Debug, Default)]
pub struct Lists {
    pub releases: Vec<Release>,
    pub offers: HashMap<(String, String), Vec<Offer>>,
    pub pins: Vec<Pin>,
    /// Lists read; none means nothing can be said about outdatedness.
    pub lists: usize,
    pub warnings: Vec<String>,
}

/// The Release file of a list: the longest prefix of its name, cut at an
/// `_`, that names an InRelease or Release file. Pure.
pub fn release_of<'a>(list: &str, names: &'a HashSet<String>) -> Option<&'a str> {
    let mut cuts: Vec<usize> = list.match_indices('_').map(|(i, _)| i).collect();
    cuts.reverse();
    for cut in cuts {
        let prefix = list.get(..=cut)?;
        for suffix in ["InRelease", "Release"] {
            if let Some(name) = names.get(&format!("{prefix}{suffix}")) {
                return Some(name.as_str());
            }
        }
    }
    None
}

/// A list file's reader, decompressed by its suffix; None for formats not
/// read here.
fn open_list(root: &HostRoot, path: &str) -> Result<Option<Box<dyn BufRead>>, String> {
    let file = root.open(path).map_err(|e| e.to_string())?;
    let bounded = file.take(MAX_LIST_BYTES);
    Ok(if path.ends_with(".lz4") {
        let decoder = lz4_flex::frame::FrameDecoder::new(bounded).take(MAX_LIST_BYTES);
        Some(Box::new(BufReader::new(decoder)))
    } else if path.ends_with(".gz") {
        let decoder = flate2::read::MultiGzDecoder::new(bounded).take(MAX_LIST_BYTES);
        Some(Box::new(BufReader::new(decoder)))
    } else if path.ends_with("_Packages") {
        Some(Box::new(BufReader::new(bounded)))
    } else {
        None
    })
}

impl Lists {
    /// Reads the lists and preferences, keeping offers of `installed`
    /// package names only.
    pub fn read(root: &HostRoot, installed: &HashSet<String>) -> Lists {
        let mut out = Lists::default();
        let names: Vec<String> = match root.list_dir(paths::APT_LISTS, 8192) {
            Ok(n) => n,
            Err(e) if e.is_not_found() => return out,
            Err(e) => {
                out.warnings.push(e.to_string());
                return out;
            }
        };
        let set: HashSet<String> = names.iter().cloned().collect();
        let mut releases: BTreeMap<&str, usize> = BTreeMap::new();
        let mut lists: Vec<&String> = names
            .iter()
            .filter(|n| n.contains("_binary-") && n.contains("_Packages"))
            .collect();
        lists.sort();
        if lists.len() > MAX_LISTS {
            out.warnings.push(format!(
                "{} package lists in {}; the first {MAX_LISTS} are read",
                lists.len(),
                paths::APT_LISTS
            ));
            lists.truncate(MAX_LISTS);
        }
        for list in lists {
            let path = join(paths::APT_LISTS, list);
            let Some(release_name) = release_of(list, &set) else {
                out.warnings
                    .push(format!("{path}: no Release file beside it"));
                continue;
            };
            let index = match releases.get(release_name) {
                Some(i) => *i,
                None => {
                    let rpath = join(paths::APT_LISTS, release_name);
                    let text = match root.read_string_capped(&rpath, 16 << 20) {
                        Ok(t) => t,
                        Err(e) => {
                            out.warnings.push(e.to_string());
                            continue;
                        }
                    };
                    let site = release_name.split('_').next().unwrap_or("");
                    out.releases.push(parse_release(&text, site));
                    let i = out.releases.len() - 1;
                    releases.insert(release_name, i);
                    i
                }
            };
            let reader = match open_list(root, &path) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    out.warnings
                        .push(format!("{path}: compression not read here"));
                    continue;
                }
                Err(e) => {
                    out.warnings.push(e);
                    continue;
                }
            };
            let offers = &mut out.offers;
            let result = scan_packages(reader, installed, &mut |name, arch, version| {
                offers
                    .entry((name.to_string(), arch.to_string()))
                    .or_default()
                    .push(Offer {
                        version: version.to_string(),
                        release: index,
                    });
            });
            match result {
                Ok(()) => out.lists += 1,
                Err(e) => out.warnings.push(format!("{path}: {e}")),
            }
        }
        // Pins: preferences, then preferences.d in name order.
        let mut files = vec![paths::APT_PREFERENCES.to_string()];
        let mut parts = root
            .list_dir(paths::APT_PREFERENCES_D, MAX_PREFERENCES)
            .unwrap_or_default();
        parts.sort();
        files.extend(
            parts
                .iter()
                // APT reads files without an extension or ending in .pref.
                .filter(|n| !n.contains('.') || n.ends_with(".pref"))
                .map(|n| join(paths::APT_PREFERENCES_D, n)),
        );
        for f in files {
            match root.read_string_capped(&f, 1 << 20) {
                Ok(text) => {
                    if let Err(why) = root.check_trusted(&f) {
                        out.warnings
                            .push(format!("{f} not trusted: {why}; its pins are ignored"));
                        continue;
                    }
                    let (pins, skipped) = parse_preferences(&text);
                    if skipped > 0 {
                        out.warnings.push(format!(
                            "{f}: {skipped} stanza(s) not understood and ignored"
                        ));
                    }
                    out.pins.extend(pins);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => out.warnings.push(e.to_string()),
            }
        }
        out
    }

    /// What APT would install for an installed package, or None when no
    /// list offers it.
    pub fn candidate(&self, name: &str, arch: &str, installed: &str) -> Option<Candidate> {
        let offers = self.offers.get(&(name.to_string(), arch.to_string()))?;
        let installed_v = Version::from_str(installed).ok()?;
        // Every version with the priority of its best source.
        let mut versions: Vec<(Version, i32, bool, String)> = Vec::new();
        let mut add = |v: Version, prio: i32, security: bool, archive: String| match versions
            .iter_mut()
            .find(|(have, ..)| *have == v)
        {
            Some(entry) => {
                entry.1 = entry.1.max(prio);
                entry.2 |= security;
                if entry.3.is_empty() {
                    entry.3 = archive;
                }
            }
            None => versions.push((v, prio, security, archive)),
        };
        add(
            installed_v.clone(),
            priority(&self.pins, None, name, installed),
            false,
            String::new(),
        );
        for offer in offers {
            let (Ok(v), Some(release)) = (
                Version::from_str(&offer.version),
                self.releases.get(offer.release),
            ) else {
                continue;
            };
            let prio = priority(&self.pins, Some(release), name, &offer.version);
            add(v, prio, release.is_security(), release.name().to_string());
        }
        // APT's pkgPolicy::GetCandidateVer: from the newest version down,
        // a version beats the best so far only with a strictly higher
        // priority; on reaching the installed version (priority below
        // 1000), nothing older can win any more.
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        let mut max = 0;
        let mut best: Option<&(Version, i32, bool, String)> = None;
        for v in &versions {
            if v.1 > max {
                best = Some(v);
                max = v.1;
            }
            if v.0 == installed_v && max < 1000 {
                if best.is_none() {
                    best = Some(v);
                }
                max = 1000;
            }
        }
        let best = best?;
        let (version, security, archive) = (best.0.clone(), best.2, best.3.clone());
        let newer = version > installed_v;
        Some(Candidate {
            version: version.to_string(),
            newer,
            security: newer && security,
            archive,
            manager: "apt",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const IN_RELEASE: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\nVersion: 12\nCodename: bookworm-security\nSHA256:\n abc 0 main/x\n\n-----BEGIN PGP SIGNATURE-----\nxyz\n";

    #[test]
    fn release_files_and_security_pockets() {
        let r = parse_release(IN_RELEASE, "deb.debian.org");
        assert_eq!(r.suite, "oldstable-security");
        assert!(r.is_security());
        assert_eq!(r.default_priority(), 500);
        let bp = parse_release(
            "Origin: Debian Backports\nSuite: bookworm-backports\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n",
            "deb.debian.org",
        );
        assert!(!bp.is_security());
        assert_eq!(bp.default_priority(), 100);
        let exp = parse_release("Suite: experimental\nNotAutomatic: yes\n", "x");
        assert_eq!(exp.default_priority(), 1);
    }

    #[test]
    fn list_files_find_their_release() {
        let names: HashSet<String> = [
            "deb.debian.org_debian_dists_bookworm_InRelease",
            "deb.debian.org_debian-security_dists_bookworm-security_InRelease",
            "repo.example_flat_Release",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            release_of(
                "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
                &names
            ),
            Some("deb.debian.org_debian_dists_bookworm_InRelease")
        );
        assert_eq!(
            release_of(
                "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
                &names
            ),
            Some("deb.debian.org_debian-security_dists_bookworm-security_InRelease")
        );
        assert_eq!(
            release_of("repo.example_flat_Packages", &names),
            Some("repo.example_flat_Release")
        );
        assert_eq!(
            release_of("other_dists_x_main_binary-amd64_Packages", &names),
            None
        );
    }

    #[test]
    fn preferences_pins() {
        let (pins, skipped) = parse_preferences(
            "Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n\n# comment\nPackage: *\nPin: release a=bookworm-backports\nPin-Priority: 500\n\nPackage: broken\nPin-Priority: x\n",
        );
        assert_eq!(pins.len(), 2);
        assert_eq!(skipped, 1);
        let nodesource = Release {
            site: "deb.nodesource.com".into(),
            ..Release::default()
        };
        assert_eq!(priority(&pins, Some(&nodesource), "nodejs", "20.1"), 600);
        let bp = parse_release(
            "Suite: bookworm-backports\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n",
            "d",
        );
        assert_eq!(priority(&pins, Some(&bp), "curl", "8.0"), 500);
        assert_eq!(priority(&pins, None, "curl", "7.0"), 100);
    }

    /// `/.../` is a case-insensitive, unanchored regular expression, in
    /// package names and release fields alike, as APT's regcomp reads it.
    #[test]
    fn regular_expression_pins() {
        let (pins, _) = parse_preferences(
            "Package: /^python3\\.(11|12)/\nPin: release o=/DEBIAN/\nPin-Priority: 990\n\nPackage: /(/\nPin: version 1*\nPin-Priority: 1\n\nPackage: /^lib.*-dev$/ gcc\nPin: version /~bpo/\nPin-Priority: 50\n",
        );
        assert_eq!(pins.len(), 3);
        let debian = Release {
            origin: "Debian".into(),
            ..Release::default()
        };
        assert_eq!(
            priority(&pins, Some(&debian), "python3.11", "3.11.2-6"),
            990
        );
        assert_eq!(
            priority(&pins, Some(&debian), "python3.11-dev", "3.11.2-6"),
            990,
            "unanchored at the end"
        );
        assert_eq!(
            priority(&pins, Some(&debian), "xpython3.11", "3.11.2-6"),
            500
        );
        assert_eq!(priority(&pins, Some(&debian), "python3.10", "3.10"), 500);
        // A pattern that does not compile matches nothing.
        assert_eq!(priority(&pins, Some(&debian), "(", "1.0"), 500);
        assert_eq!(
            priority(&pins, Some(&debian), "libssl-dev", "3.0~bpo12+1"),
            50
        );
        assert_eq!(priority(&pins, Some(&debian), "libssl-dev", "3.0"), 500);
        assert_eq!(priority(&pins, Some(&debian), "gcc", "12~bpo1"), 50);
    }

    fn lists(offers: &[(&str, &str, usize)], releases: Vec<Release>, pins: Vec<Pin>) -> Lists {
        let mut l = Lists {
            releases,
            pins,
            lists: 1,
            ..Lists::default()
        };
        for (name, version, release) in offers {
            l.offers
                .entry((name.to_string(), "amd64".into()))
                .or_default()
                .push(Offer {
                    version: version.to_string(),
                    release: *release,
                });
        }
        l
    }

    #[test]
    fn candidates_follow_apt_s_policy() {
        let main = parse_release("Suite: stable\nCodename: bookworm\n", "d");
        let security = parse_release(IN_RELEASE, "d");
        let backports = parse_release(
            "Suite: stable-backports\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n",
            "d",
        );
        let l = lists(
            &[
                ("openssl", "3.0.15-1~deb12u1", 0),
                ("openssl", "3.0.17-1~deb12u2", 1),
                ("curl", "7.88.1-10+deb12u8", 0),
                ("curl", "8.14.1-2~bpo12+1", 2),
                ("tzdata", "2025b-0+deb12u1", 0),
                ("epoch", "2:1.0-1", 0),
            ],
            vec![main, security, backports],
            Vec::new(),
        );
        let c = l.candidate("openssl", "amd64", "3.0.15-1~deb12u1").unwrap();
        assert!(c.newer && c.security);
        assert_eq!(c.version, "3.0.17-1~deb12u2");
        assert_eq!(c.archive, "oldstable-security");
        // Backports are not candidates unless installed from there.
        let c = l.candidate("curl", "amd64", "7.88.1-10+deb12u8").unwrap();
        assert!(!c.newer);
        let c = l.candidate("curl", "amd64", "8.14.1-2~bpo12+1").unwrap();
        assert!(!c.newer, "installed from backports: stays");
        // A tilde sorts before anything, an epoch after everything.
        let c = l
            .candidate("tzdata", "amd64", "2025b~rc1-0+deb12u1")
            .unwrap();
        assert!(c.newer && !c.security);
        let c = l.candidate("epoch", "amd64", "1:9.9-1").unwrap();
        assert!(c.newer);
        // Never a downgrade; unknown packages say nothing.
        let exp = parse_release("Suite: experimental\nNotAutomatic: yes\n", "d");
        let l2 = lists(
            &[
                ("tool", "4.0-1", 0),
                ("tool", "5.1~bpo12+1", 1),
                ("tool", "6.0-1", 2),
            ],
            vec![
                parse_release("Suite: stable\n", "d"),
                parse_release(
                    "Suite: stable-backports\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n",
                    "d",
                ),
                exp,
            ],
            Vec::new(),
        );
        let c = l2.candidate("tool", "amd64", "5.0~bpo12+1").unwrap();
        assert_eq!(
            c.version, "5.1~bpo12+1",
            "backports upgrade what came from them; experimental does not win"
        );
        let c = l2.candidate("tool", "amd64", "3.0-1").unwrap();
        assert_eq!(c.version, "4.0-1", "from stable: the stable version");
        assert!(!l.candidate("tzdata", "amd64", "2026a-1").unwrap().newer);
        assert!(l.candidate("local-only", "amd64", "1.0").is_none());
    }

    #[test]
    fn broken_lists_are_errors_not_panics() {
        let wanted: HashSet<String> = ["a".to_string()].into_iter().collect();
        let long = format!("Package: a\nDescription: {}\n", "x".repeat(MAX_LINE + 10));
        let err = scan_packages(long.as_bytes(), &wanted, &mut |_, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("longer than"));
        // A truncated LZ4 frame.
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(
            &mut enc,
            "Package: a\nVersion: 1\n\n".repeat(1000).as_bytes(),
        )
        .unwrap();
        let bytes = enc.finish().unwrap();
        let cut = &bytes[..bytes.len() / 2];
        let reader = BufReader::new(lz4_flex::frame::FrameDecoder::new(cut));
        let mut seen = 0;
        assert!(scan_packages(reader, &wanted, &mut |_, _, _| seen += 1).is_err());
    }

    #[test]
    fn packages_scan_keeps_wanted_names_only() {
        let text = "Package: a\nVersion: 1\nArchitecture: amd64\nDescription: x\n long\n\nPackage: b\nVersion: 2\nArchitecture: all\n\nPackage: c\nVersion: 3\nArchitecture: amd64";
        let wanted: HashSet<String> = ["a", "c"].iter().map(|s| s.to_string()).collect();
        let mut seen = Vec::new();
        scan_packages(text.as_bytes(), &wanted, &mut |n, a, v| {
            seen.push(format!("{n} {a} {v}"))
        })
        .unwrap();
        assert_eq!(seen, ["a amd64 1", "c amd64 3"]);
    }
}
