//! Local accounts and their home directories, from `/etc/passwd` and the
//! home directory roots.

use std::collections::BTreeMap;

use crate::root::{join, paths, HostRoot};

const PASSWD_CAP: u64 = 8 << 20;
const MAX_HOMES: usize = 2_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub home: String,
}

/// Parses passwd(5) text; malformed lines are skipped. Pure.
pub fn parse_passwd(text: &str) -> Vec<Account> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [name, _, uid, _, _, home, ..] if !name.is_empty() => Some(Account {
                    name: (*name).to_string(),
                    uid: uid.parse().ok()?,
                    home: (*home).to_string(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The accounts of the host, and the human users' home directories.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    by_uid: BTreeMap<u32, String>,
    /// (host path of the home, owner name when known)
    pub homes: Vec<(String, Option<String>)>,
}

impl Accounts {
    pub fn load(root: &HostRoot) -> Accounts {
        let accounts = match root.read_string_capped(paths::PASSWD, PASSWD_CAP) {
            Ok(text) => parse_passwd(&text),
            Err(e) => {
                if !e.is_not_found() {
                    log::warn!("{e}");
                }
                Vec::new()
            }
        };
        let mut by_uid = BTreeMap::new();
        let mut homes: BTreeMap<String, Option<String>> = BTreeMap::new();
        for account in &accounts {
            by_uid
                .entry(account.uid)
                .or_insert_with(|| account.name.clone());
            let human = account.uid == 0 || account.uid >= 1000;
            let real_home = account.home.starts_with(paths::HOMES_LINUX)
                || account.home.starts_with(paths::HOMES_MACOS)
                || account.home == paths::ROOT_HOME;
            if human && real_home && account.home.len() > 1 {
                homes.insert(account.home.clone(), Some(account.name.clone()));
            }
        }
        // Homes without a passwd entry (directory services, mounted images).
        for base in [paths::HOMES_LINUX, paths::HOMES_MACOS] {
            if let Ok(names) = root.list_dir(base, MAX_HOMES) {
                for name in names
                    .into_iter()
                    .filter(|n| n != "Shared" && !n.starts_with('.'))
                {
                    homes.entry(join(base, &name)).or_insert(None);
                }
            }
        }
        Accounts {
            by_uid,
            homes: homes.into_iter().take(MAX_HOMES).collect(),
        }
    }

    pub fn name_of(&self, uid: u32) -> Option<&str> {
        self.by_uid.get(&uid).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\nbob:x:1000:1000:Bob,,,:/home/bob:/bin/bash\nbad:x:notanumber:1::/:/bin/sh\n";
        let accounts = parse_passwd(text);
        assert_eq!(accounts.len(), 2);
        assert_eq!(
            accounts
                .get(1)
                .map(|a| (a.name.as_str(), a.uid, a.home.as_str())),
            Some(("bob", 1000, "/home/bob"))
        );
        assert!(parse_passwd("\u{0}\u{1}garbage:::").is_empty());
    }
}
