//! End-of-life dates of operating systems, runtimes and apps: a data
//! catalog (`catalog/hygiene/eol.json`, a source per product) and the pure
//! matching of what a host has against it.
//!
//! A runtime the distribution packages itself (its maintainer is the
//! distribution's) is supported as long as the distribution is, whatever
//! upstream's date: [`Answer::follows_os`] says so and the table then uses
//! the operating system's date. Firefox ESR is the exception the catalog
//! marks: distributions move to the next ESR line instead of patching an
//! old one.

use std::sync::LazyLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    products: Vec<Product>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    os_release_id: Vec<String>,
    /// Package names with `{v}` standing for the release (`python{v}`); a
    /// name without `{v}` takes the release from the version's major.
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    distribution_supports: bool,
    pub support: String,
    pub source: String,
    releases: Vec<Release>,
}

#[derive(Clone, Debug, Deserialize)]
struct Release {
    version: String,
    eol: Option<String>,
}

/// What the catalog says of one thing on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub product: String,
    pub release: String,
    /// The last day of support (YYYY-MM-DD); None when the source sets none,
    /// or for a release older than every listed one.
    pub date: Option<String>,
    /// Past support on `today`.
    pub eol: bool,
    /// Packaged by the distribution, which supports it: the operating
    /// system's answer applies instead.
    pub follows_os: bool,
}

pub struct EolCatalog {
    products: Vec<Product>,
}

/// The catalog compiled into the binary.
pub fn embedded() -> Result<&'static EolCatalog, &'static String> {
    static CATALOG: LazyLock<Result<EolCatalog, String>> = LazyLock::new(|| {
        let mut products = Vec::new();
        for (name, text) in crate::catalog::embedded::HYGIENE {
            if !name.starts_with("eol") {
                continue;
            }
            let file: File =
                serde_json::from_str(text).map_err(|e| format!("catalog {name}: {e}"))?;
            products.extend(file.products);
        }
        Ok(EolCatalog { products })
    });
    CATALOG.as_ref()
}

/// Compares dotted numeric versions (`3.9` < `3.11`); non-numbers compare
/// as text.
fn numeric_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a).cmp(&parts(b))
}

/// The upstream major of a package version: `1:18.20.4+dfsg-1` -> `18`,
/// `128.5.0esr-1~deb12u1` -> `128`.
fn major(version: &str) -> Option<&str> {
    let v = version.split_once(':').map_or(version, |(_, rest)| rest);
    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    v.get(..end).filter(|m| !m.is_empty())
}

/// Does a maintainer or vendor name an operating system distribution?
pub fn from_distribution(publisher: &str) -> bool {
    let p = publisher.to_ascii_lowercase();
    [
        "debian",
        "ubuntu",
        "canonical",
        "red hat",
        "fedora",
        "centos",
        "rocky",
        "almalinux",
    ]
    .iter()
    .any(|d| p.contains(d))
}

impl Product {
    fn answer(&self, release: &str, today: &str) -> Option<Answer> {
        let found = self.releases.iter().find(|r| r.version == release);
        let (date, eol) = match found {
            Some(r) => (r.eol.clone(), r.eol.as_deref().is_some_and(|d| d < today)),
            None => {
                // Older than the oldest release listed, which has ended:
                // ended too, date unknown here.
                let oldest = self
                    .releases
                    .iter()
                    .min_by(|a, b| numeric_cmp(&a.version, &b.version))?;
                let ended = oldest.eol.as_deref().is_some_and(|d| d < today);
                // Only a release of the same shape: `3` is no Python release.
                let shape = |v: &str| v.matches('.').count();
                if shape(release) == shape(&oldest.version)
                    && numeric_cmp(release, &oldest.version).is_lt()
                    && ended
                {
                    (None, true)
                } else {
                    return None;
                }
            }
        };
        Some(Answer {
            product: self.name.clone(),
            release: release.to_string(),
            date,
            eol,
            follows_os: false,
        })
    }
}

impl EolCatalog {
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// The operating system, from os-release's ID and VERSION_ID (macOS:
    /// `macos` and the product version). Releases are matched exactly,
    /// then on the major (`9.4` is RHEL 9, `14.6.1` macOS 14).
    pub fn os(&self, id: &str, version: &str, today: &str) -> Option<Answer> {
        let product = self
            .products
            .iter()
            .find(|p| p.os_release_id.iter().any(|i| i == id))?;
        if product.releases.iter().any(|r| r.version == version) {
            return product.answer(version, today);
        }
        let major = version.split('.').next().unwrap_or(version);
        product.answer(major, today)
    }

    /// A package, app or runtime by its name and version; `publisher` is the
    /// package's maintainer or vendor.
    pub fn package(
        &self,
        name: &str,
        version: Option<&str>,
        publisher: Option<&str>,
        today: &str,
    ) -> Option<Answer> {
        for p in self.products.iter().filter(|p| p.kind != "os") {
            for pattern in &p.packages {
                let release = match pattern.split_once("{v}") {
                    Some((pre, post)) => {
                        let Some(mid) = name
                            .strip_prefix(pre)
                            .and_then(|rest| rest.strip_suffix(post))
                        else {
                            continue;
                        };
                        // python3.11, node@18, temurin-17-jdk: the name says it.
                        mid.to_string()
                    }
                    None if pattern == name => match version.and_then(major) {
                        Some(m) => m.to_string(),
                        None => continue,
                    },
                    None => continue,
                };
                if !release.chars().all(|c| c.is_ascii_digit() || c == '.') || release.is_empty() {
                    continue;
                }
                let Some(mut answer) = p.answer(&release, today) else {
                    continue;
                };
                answer.follows_os =
                    p.distribution_supports && publisher.is_some_and(from_distribution);
                return Some(answer);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TODAY: &str = "2026-12-01";

    #[test]
    fn operating_systems() {
        let c = embedded().unwrap();
        let d12 = c.os("debian", "12", TODAY).unwrap();
        assert_eq!(d12.date.as_deref(), Some("2028-06-30"));
        assert!(!d12.eol);
        assert!(c.os("debian", "11", TODAY).unwrap().eol);
        assert!(
            c.os("debian", "8", TODAY).unwrap().eol,
            "older than any listed"
        );
        assert!(c.os("ubuntu", "20.04", TODAY).unwrap().eol);
        assert!(!c.os("rhel", "9.4", TODAY).unwrap().eol);
        assert!(c.os("macos", "12.7.6", TODAY).unwrap().eol);
        let sonoma = c.os("macos", "14.6.1", TODAY).unwrap();
        assert!(!sonoma.eol && sonoma.date.is_none(), "no date set");
        assert!(c.os("arch", "rolling", TODAY).is_none());
    }

    #[test]
    fn runtimes_and_apps() {
        let c = embedded().unwrap();
        let py = c
            .package(
                "python3.9",
                Some("3.9.2-1"),
                Some("Matthias Klose <doko@debian.org>"),
                TODAY,
            )
            .unwrap();
        assert!(py.eol && py.follows_os, "Debian's own python3.9");
        let brew = c
            .package("python@3.9", Some("3.9.20"), None, TODAY)
            .unwrap();
        assert!(brew.eol && !brew.follows_os);
        let node = c
            .package(
                "nodejs",
                Some("20.20.2-1nodesource1"),
                Some("NodeSource <x>"),
                TODAY,
            )
            .unwrap();
        assert_eq!(node.release, "20");
        assert!(node.eol && !node.follows_os);
        let esr = c
            .package(
                "firefox-esr",
                Some("128.5.0esr-1~deb12u1"),
                Some(
                    "Maintainers of Mozilla-related packages <team+pkg-mozilla@tracker.debian.org>",
                ),
                TODAY,
            )
            .unwrap();
        assert!(
            esr.eol && !esr.follows_os,
            "distributions do not patch old ESRs"
        );
        assert!(c
            .package("python3.11-venv", Some("3.11.2"), None, TODAY)
            .is_none());
        assert!(
            c.package("python3", Some("3.11.2-1+b1"), None, TODAY)
                .is_none(),
            "a metapackage"
        );
        let old = c.package("python3.6", Some("3.6.9"), None, TODAY).unwrap();
        assert!(
            old.eol && old.date.is_none(),
            "older than any release listed"
        );
        assert!(c.package("curl", Some("7.88"), None, TODAY).is_none());
        let temurin = c
            .package("temurin-17-jdk", Some("17.0.12"), None, TODAY)
            .unwrap();
        assert!(!temurin.eol);
    }

    #[test]
    fn every_product_has_a_source_and_dated_releases() {
        for p in embedded().unwrap().products() {
            assert!(p.source.starts_with("https://"), "{}", p.id);
            assert!(!p.releases.is_empty(), "{}", p.id);
            for r in &p.releases {
                if let Some(d) = &r.eol {
                    assert!(
                        jiff::civil::Date::strptime("%Y-%m-%d", d).is_ok(),
                        "{} {d}",
                        p.id
                    );
                }
            }
        }
    }
}
