//! Disk and swap encryption on Linux: the root filesystem and swap on
//! dm-crypt (LUKS), read from mountinfo and sysfs.

use super::*;

pub(super) fn describe_crypt(crypt: &BlockCrypt) -> String {
    match crypt {
        BlockCrypt::Encrypted { mapping, uuid } => format!("dm-crypt mapping {mapping} ({uuid})"),
        BlockCrypt::Plain { device } => format!("{device}, which is not encrypted"),
        BlockCrypt::Unknown(why) => why.clone(),
    }
}

pub(super) fn mounts(facts: &Facts<'_>) -> Result<Vec<config::MountInfo>, String> {
    facts
        .root
        .read_string_capped(paths::MOUNTINFO, 4 << 20)
        .map(|t| config::parse_mountinfo(&t))
        .map_err(|e| e.to_string())
}

/// The encryption of the block device behind a mount.
pub(super) fn mount_crypt(facts: &Facts<'_>, m: &config::MountInfo) -> BlockCrypt {
    if m.major_minor.starts_with("0:") {
        return BlockCrypt::Unknown(format!(
            "{} is a {} filesystem from {}, not a block device (container, network or virtual filesystem)",
            m.mount_point, m.fs_type, m.source
        ));
    }
    match config::block_device_name(facts.root, &m.major_minor) {
        Some(dev) => config::block_crypt(facts.root, &dev),
        None => BlockCrypt::Unknown(format!(
            "no sysfs block device for {} ({})",
            m.source, m.major_minor
        )),
    }
}

pub(super) fn crypttab_note(facts: &Facts<'_>) -> String {
    match facts.root.read_string_capped(paths::CRYPTTAB, 1 << 16) {
        Ok(t) => {
            let names: Vec<&str> = t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            if names.is_empty() {
                "; /etc/crypttab lists no devices".into()
            } else {
                format!("; /etc/crypttab lists {}", names.join(", "))
            }
        }
        Err(_) => "; no /etc/crypttab".into(),
    }
}

pub(super) fn disk_encryption(facts: &Facts<'_>) -> Check {
    let mounts = match mounts(facts) {
        Ok(m) => m,
        Err(e) => return Check::new("disk_encryption", Status::Unknown, e),
    };
    let Some(root_mount) = mounts.iter().rev().find(|m| m.mount_point == "/") else {
        return Check::new(
            "disk_encryption",
            Status::Unknown,
            "no / entry in /proc/self/mountinfo",
        );
    };
    let crypt = mount_crypt(facts, root_mount);
    let status = match crypt {
        BlockCrypt::Encrypted { .. } => Status::Pass,
        BlockCrypt::Plain { .. } => Status::Fail,
        BlockCrypt::Unknown(_) => Status::Unknown,
    };
    let evidence = format!(
        "/ is {} on {}: {}{}",
        root_mount.fs_type,
        root_mount.source,
        describe_crypt(&crypt),
        crypttab_note(facts)
    );
    Check::new("disk_encryption", status, evidence).states(None, None, Some(status == Status::Pass))
}

pub(super) fn swap_encryption(facts: &Facts<'_>) -> Check {
    let swaps = match facts.root.read_string_capped(paths::SWAPS, 1 << 16) {
        Ok(t) => config::parse_swaps(&t),
        Err(e) => return Check::new("swap_encryption", Status::Unknown, e.to_string()),
    };
    if swaps.is_empty() {
        return Check::new(
            "swap_encryption",
            Status::NotApplicable,
            "no swap in use (/proc/swaps is empty)",
        );
    }
    let mounts = mounts(facts).unwrap_or_default();
    let mut notes = Vec::new();
    let mut worst = Status::Pass;
    for (name, kind) in swaps {
        let crypt = if basename(&name).starts_with("zram") {
            notes.push(format!("{name} is compressed memory (zram)"));
            continue;
        } else if kind == "partition" {
            let dev = basename(&name).to_string();
            let dev = if name.starts_with("/dev/mapper/") {
                dm_by_name(facts.root, &dev).unwrap_or(dev)
            } else {
                dev
            };
            config::block_crypt(facts.root, &dev)
        } else {
            // A swap file: encrypted when the filesystem holding it is.
            match mounts
                .iter()
                .filter(|m| name.starts_with(&m.mount_point))
                .max_by_key(|m| m.mount_point.len())
            {
                Some(m) => mount_crypt(facts, m),
                None => BlockCrypt::Unknown(format!("no mount holds {name}")),
            }
        };
        let status = match crypt {
            BlockCrypt::Encrypted { .. } => Status::Pass,
            BlockCrypt::Plain { .. } => Status::Fail,
            BlockCrypt::Unknown(_) => Status::Unknown,
        };
        if status == Status::Fail || (status == Status::Unknown && worst == Status::Pass) {
            worst = status;
        }
        notes.push(format!("{kind} {name}: {}", describe_crypt(&crypt)));
    }
    Check::new("swap_encryption", worst, notes.join("; "))
}

/// The sysfs `dm-N` whose mapping is called `name`.
pub(super) fn dm_by_name(root: &HostRoot, name: &str) -> Option<String> {
    root.list_dir(paths::SYS_BLOCK, 4096)
        .ok()?
        .into_iter()
        .filter(|d| d.starts_with("dm-"))
        .find(|d| {
            root.read_string_capped(&format!("{}/{d}/dm/name", paths::SYS_BLOCK), 4096)
                .is_ok_and(|n| n.trim() == name)
        })
}
