//! Since when each pending security update has been pending on this host:
//! APT keeps no such history, so postern remembers the first time it saw
//! each (package, newer version) as a security update, in
//! `pending_updates.json` beside the enrollment baseline. That gives Fleet
//! a point-in-time policy for "no security update pending for more than N
//! days".
//!
//! The file is postern's own state: written atomically (temporary file,
//! fsync, rename), mode 0600, and read only when its owner is the state
//! directory's trusted owner and nobody else can write it; anything else is
//! ignored with a warning (and the times start again), never trusted.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

const FILE: &str = "pending_updates.json";
const CAP: u64 = 16 << 20;

/// One pending security update.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Pending {
    /// The newer version APT would install.
    pub version: String,
    /// When postern first saw it pending (Unix seconds).
    pub since: i64,
}

pub type PendingMap = BTreeMap<String, Pending>;

/// The remembered map; warnings say why it could not be used.
pub fn load(dir: &Path, owner: u32, warnings: &mut Vec<String>) -> PendingMap {
    let path = dir.join(FILE);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        // Absent, or postern runs without the rights to its state (a user's
        // CLI run): no state, and the column says NULL; not a warning.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            return PendingMap::new()
        }
        Err(e) => {
            warnings.push(format!("cannot read {}: {e}", path.display()));
            return PendingMap::new();
        }
    };
    if !meta.is_file() || meta.uid() != owner || meta.mode() & 0o022 != 0 {
        warnings.push(format!(
            "{} is not postern's (owner uid {}, mode {:o}): ignored",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        ));
        return PendingMap::new();
    }
    let mut text = String::new();
    let read =
        crate::root::open_regular(&path, false).and_then(|f| f.take(CAP).read_to_string(&mut text));
    match read
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str::<PendingMap>(&text).map_err(|e| e.to_string()))
    {
        Ok(map) => map,
        Err(e) => {
            warnings.push(format!("{} is unreadable ({e}): ignored", path.display()));
            PendingMap::new()
        }
    }
}

/// The new map from what is pending now: a package keeps its time while
/// the same newer version stays pending; a new version starts again; what
/// is no longer pending is forgotten. Pure.
pub fn merge(old: &PendingMap, now_pending: &[(String, String)], now: i64) -> PendingMap {
    now_pending
        .iter()
        .map(|(name, version)| {
            let since = old
                .get(name)
                .filter(|p| p.version == *version && p.since <= now)
                .map_or(now, |p| p.since);
            (
                name.clone(),
                Pending {
                    version: version.clone(),
                    since,
                },
            )
        })
        .collect()
}

/// Writes the map atomically, when it changed.
pub fn save(dir: &Path, map: &PendingMap) -> Result<(), String> {
    let io = |what: String, e: std::io::Error| format!("{what}: {e}");
    fs::create_dir_all(dir).map_err(|e| io(format!("cannot create {}", dir.display()), e))?;
    let tmp = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
    let body = serde_json::to_vec_pretty(map).map_err(|e| e.to_string())?;
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io(format!("cannot create {}", tmp.display()), e))?;
        f.write_all(&body)
            .and_then(|()| f.sync_all())
            .map_err(|e| io(format!("cannot write {}", tmp.display()), e))?;
    }
    let target = dir.join(FILE);
    fs::rename(&tmp, &target).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(format!("cannot rename onto {}", target.display()), e)
    })?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(format!("cannot fsync {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_survive_while_the_same_update_is_pending() {
        let first = merge(
            &PendingMap::new(),
            &[("openssl".into(), "3.0.17".into())],
            1000,
        );
        assert_eq!(first["openssl"].since, 1000);
        let later = merge(
            &first,
            &[
                ("openssl".into(), "3.0.17".into()),
                ("curl".into(), "8.1".into()),
            ],
            5000,
        );
        assert_eq!((later["openssl"].since, later["curl"].since), (1000, 5000));
        // A newer update replaces the pending one: its own time.
        let newer = merge(&later, &[("openssl".into(), "3.0.18".into())], 9000);
        assert_eq!(newer["openssl"].since, 9000);
        assert!(
            !newer.contains_key("curl"),
            "installed meanwhile: forgotten"
        );
        // A time from the future (a forged file) is not kept.
        let mut forged = PendingMap::new();
        forged.insert(
            "x".into(),
            Pending {
                version: "1".into(),
                since: 99_999,
            },
        );
        assert_eq!(
            merge(&forged, &[("x".into(), "1".into())], 10)["x"].since,
            10
        );
    }

    #[test]
    fn saved_atomically_and_refused_when_others_could_write_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let owner = fs::metadata(dir.path()).unwrap().uid();
        let map = merge(&PendingMap::new(), &[("a".into(), "2".into())], 7);
        save(dir.path(), &map).unwrap();
        let mut w = Vec::new();
        assert_eq!(load(dir.path(), owner, &mut w), map);
        assert!(w.is_empty());
        let file = dir.path().join(FILE);
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(load(dir.path(), owner, &mut w).is_empty());
        assert!(w[0].contains("ignored"), "{w:?}");
        fs::write(&file, "{not json").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let mut w = Vec::new();
        assert!(load(dir.path(), owner, &mut w).is_empty());
        assert!(w[0].contains("unreadable"), "{w:?}");
        // A FIFO (would block a reader) or a link to another file put in its
        // place is not read.
        fs::remove_file(&file).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &file,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let mut w = Vec::new();
        assert!(load(dir.path(), owner, &mut w).is_empty());
        assert!(w[0].contains("ignored"), "{w:?}");
        fs::remove_file(&file).unwrap();
        let elsewhere = dir.path().join("other.json");
        fs::write(&elsewhere, "{}").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
        let mut w = Vec::new();
        assert!(load(dir.path(), owner, &mut w).is_empty());
        assert!(w[0].contains("ignored"), "{w:?}");
    }
}
