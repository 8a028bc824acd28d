//! Installed packages: dpkg's status database, the RPM database, snaps and
//! flatpaks.

use std::io::Read;

use crate::root::{join, paths, HostRoot};

const SNAP_YAML_CAP: u64 = 256 * 1024;
/// dpkg status files of 100,000 packages stay far below this.
const DPKG_STATUS_CAP: u64 = 512 << 20;
const MAX_ENTRIES: usize = 20_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: Option<String>,
    /// `deb`, `snap`, `flatpak`.
    pub source: &'static str,
    /// Where the package was found (database or install directory).
    pub path: String,
    /// Owner of a per-user install (flatpak --user).
    pub user: Option<String>,
    /// Maintainer (dpkg) or vendor (RPM).
    pub publisher: Option<String>,
    /// When the package database records it (RPM).
    pub install_time: Option<i64>,
}

/// An installed dpkg package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpkgEntry {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub maintainer: String,
}

/// Parses dpkg's `status` file, keeping packages whose status is
/// `install ok installed` (or held). Pure; a truncated final stanza is kept
/// if it has a name and status, garbage is skipped. Only the five fields used
/// are decoded, so a 100,000-line file costs one pass over its bytes.
pub fn parse_dpkg_status(data: &[u8]) -> Vec<DpkgEntry> {
    let mut out = Vec::new();
    let mut name: &[u8] = b"";
    let mut version: &[u8] = b"";
    let mut arch: &[u8] = b"";
    let mut maintainer: &[u8] = b"";
    let mut installed = false;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    // A final empty line flushes the last stanza.
    for line in data.split(|b| *b == b'\n').chain(std::iter::once(&b""[..])) {
        if line.is_empty() {
            if installed && !name.is_empty() {
                out.push(DpkgEntry {
                    name: text(name),
                    version: text(version),
                    arch: text(arch),
                    maintainer: text(maintainer),
                });
            }
            (name, version, arch, maintainer, installed) = (b"", b"", b"", b"", false);
        } else if let Some(v) = line.strip_prefix(b"Package:") {
            name = v.trim_ascii();
        } else if let Some(v) = line.strip_prefix(b"Version:") {
            version = v.trim_ascii();
        } else if let Some(v) = line.strip_prefix(b"Architecture:") {
            arch = v.trim_ascii();
        } else if let Some(v) = line.strip_prefix(b"Maintainer:") {
            maintainer = v.trim_ascii();
        } else if let Some(v) = line.strip_prefix(b"Status:") {
            let mut words = v
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty());
            let want = words.next();
            let state = words.nth(1);
            installed =
                matches!(want, Some(b"install" | b"hold")) && state == Some(&b"installed"[..]);
        }
    }
    out
}

/// The `version:` of a snap's `meta/snap.yaml`. Pure.
pub fn parse_snap_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("version:"))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|v| !v.is_empty())
}

/// dpkg packages; an absent database is not an error.
pub fn dpkg_packages(root: &HostRoot, warnings: &mut Vec<String>) -> Vec<Package> {
    let file = match root.open(paths::DPKG_STATUS) {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return Vec::new(),
        Err(e) => {
            warnings.push(e.to_string());
            return Vec::new();
        }
    };
    let mut data = Vec::new();
    if let Err(e) = file.take(DPKG_STATUS_CAP).read_to_end(&mut data) {
        warnings.push(format!("cannot read {}: {e}", paths::DPKG_STATUS));
        return Vec::new();
    }
    parse_dpkg_status(&data)
        .into_iter()
        .map(|e| Package {
            name: e.name,
            version: Some(e.version).filter(|v| !v.is_empty()),
            source: "deb",
            path: paths::DPKG_STATUS.to_string(),
            user: None,
            publisher: Some(e.maintainer).filter(|m| !m.is_empty()),
            install_time: None,
        })
        .collect()
}

pub fn snap_packages(root: &HostRoot) -> Vec<Package> {
    let Ok(names) = root.list_dir(paths::SNAPS, MAX_ENTRIES) else {
        return Vec::new();
    };
    names
        .into_iter()
        .filter(|n| n != "bin" && !n.starts_with('.') && !n.contains('.'))
        .filter(|n| root.exists(&join(&join(paths::SNAPS, n), "current")))
        .map(|name| {
            let dir = join(paths::SNAPS, &name);
            let version = root
                .read_string_capped(&format!("{dir}/current/meta/snap.yaml"), SNAP_YAML_CAP)
                .ok()
                .and_then(|t| parse_snap_version(&t));
            Package {
                name,
                version,
                source: "snap",
                path: dir,
                user: None,
                publisher: None,
                install_time: None,
            }
        })
        .collect()
}

fn flatpak_dir(root: &HostRoot, dir: &str, user: Option<&str>) -> Vec<Package> {
    let Ok(names) = root.list_dir(dir, MAX_ENTRIES) else {
        return Vec::new();
    };
    names
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .map(|name| Package {
            path: join(dir, &name),
            name,
            version: None,
            source: "flatpak",
            user: user.map(str::to_string),
            publisher: None,
            install_time: None,
        })
        .collect()
}

/// System flatpaks and each home's `--user` flatpaks.
pub fn flatpak_packages(root: &HostRoot, homes: &[(String, Option<String>)]) -> Vec<Package> {
    let mut out = flatpak_dir(root, paths::FLATPAK_SYSTEM_APPS, None);
    for (home, owner) in homes {
        out.extend(flatpak_dir(
            root,
            &join(home, paths::HOME_FLATPAK_APPS),
            owner.as_deref(),
        ));
    }
    out
}

/// RPM packages from the host's RPM database.
pub fn rpm_packages(root: &HostRoot, warnings: &mut Vec<String>) -> Vec<Package> {
    crate::host::rpm::rpm_packages(root, warnings)
        .into_iter()
        .map(|(h, db)| Package {
            version: Some(h.evr()),
            name: h.name,
            source: "rpm",
            path: db.to_string(),
            user: None,
            publisher: h.vendor.clone(),
            install_time: h.install_time,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: anydesk\nStatus: install ok installed\nPriority: optional\nSection: net\nInstalled-Size: 20480\nMaintainer: philandro Software GmbH <info@anydesk.com>\nArchitecture: amd64\nVersion: 6.3.2\nDepends: libc6 (>= 2.7)\nDescription: The fastest remote desktop software on the market.\n It allows for new usage scenarios.\n\nPackage: removed-one\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: tailscale\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 1.76.1\n";

    #[test]
    fn dpkg_status() {
        let pkgs = parse_dpkg_status(STATUS.as_bytes());
        let names: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(names, [("anydesk", "6.3.2"), ("tailscale", "1.76.1")]);
    }

    #[test]
    fn truncated_and_garbage_status() {
        let cut = &STATUS[..STATUS.find("Priority").unwrap_or(0)];
        let pkgs = parse_dpkg_status(cut.as_bytes());
        assert_eq!(
            pkgs.len(),
            1,
            "a truncated stanza with name and status is kept"
        );
        assert!(parse_dpkg_status(&b"\xff\xfe\x00garbage\n\n:::\nStatus\n"[..]).is_empty());
    }

    #[test]
    fn snap_version() {
        assert_eq!(
            parse_snap_version("name: ngrok\nversion: '3.5.0'\nsummary: x\n").as_deref(),
            Some("3.5.0")
        );
        assert_eq!(parse_snap_version("name: x\n"), None);
    }
}
