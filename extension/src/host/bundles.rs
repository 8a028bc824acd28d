//! macOS application bundles, from their `Contents/Info.plist` files, so the
//! collector works on any host given a root holding a macOS filesystem.

use crate::root::{join, paths, HostRoot};

const PLIST_CAP: u64 = 4 << 20;
const MAX_APPS: usize = 5_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub path: String,
    pub bundle_id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub executable: Option<String>,
    pub user: Option<String>,
}

/// Identity fields of an `Info.plist`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoPlist {
    pub bundle_id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub executable: Option<String>,
}

/// Parses an `Info.plist` (XML or binary). Pure.
pub fn parse_info_plist(bytes: &[u8]) -> Result<InfoPlist, String> {
    let value = crate::host::plists::parse(bytes)?;
    let dict = value
        .as_dictionary()
        .ok_or("Info.plist is not a dictionary")?;
    let get = |k: &str| dict.get(k).and_then(|v| v.as_string()).map(str::to_string);
    let id = get("CFBundleIdentifier").ok_or("Info.plist has no CFBundleIdentifier")?;
    let version = get("CFBundleShortVersionString").or_else(|| get("CFBundleVersion"));
    let name = get("CFBundleName").or_else(|| get("CFBundleDisplayName"));
    Ok(InfoPlist {
        bundle_id: id,
        name,
        version,
        executable: get("CFBundleExecutable"),
    })
}

/// The code signature of a bundle's main executable (named by its
/// `Info.plist`), read through the root with bounded reads; `None` when the
/// bundle has no readable executable or it is not a signed Mach-O.
pub fn signature(
    root: &HostRoot,
    bundle_path: &str,
    executable: Option<&str>,
) -> Option<crate::host::macho::Signature> {
    let owned;
    let executable = match executable {
        Some(e) => e,
        None => {
            let plist = root
                .read_capped(&format!("{bundle_path}/Contents/Info.plist"), PLIST_CAP)
                .ok()?;
            owned = parse_info_plist(&plist).ok()?.executable?;
            owned.as_str()
        }
    };
    if executable.is_empty() || executable.contains('/') || executable == ".." {
        return None;
    }
    let path = format!("{bundle_path}/Contents/MacOS/{executable}");
    match crate::host::macho::signature(root, &path) {
        Ok(found) => found,
        Err(e) => {
            log::debug!("{e}");
            None
        }
    }
}

fn apps_in(
    root: &HostRoot,
    dir: &str,
    user: Option<&str>,
    depth: u8,
    out: &mut Vec<Bundle>,
    warnings: &mut Vec<String>,
) {
    let Ok(names) = root.list_dir(dir, MAX_APPS) else {
        return;
    };
    for name in names {
        let path = join(dir, &name);
        if !name.ends_with(".app") {
            // One level of folders (`/Applications/Utilities`, vendor folders).
            if depth > 0 && root.symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                apps_in(root, &path, user, depth - 1, out, warnings);
            }
            continue;
        }
        let plist = format!("{path}/Contents/Info.plist");
        match root.read_capped(&plist, PLIST_CAP) {
            Ok(bytes) => match parse_info_plist(&bytes) {
                Ok(info) => out.push(Bundle {
                    path,
                    bundle_id: info.bundle_id,
                    name: info.name,
                    version: info.version,
                    executable: info.executable,
                    user: user.map(str::to_string),
                }),
                Err(e) => warnings.push(format!("{plist}: {e}")),
            },
            Err(e) if e.is_not_found() => {}
            Err(e) => warnings.push(e.to_string()),
        }
    }
}

/// Bundles in `/Applications` and each home's `~/Applications`.
pub fn bundles(
    root: &HostRoot,
    homes: &[(String, Option<String>)],
    warnings: &mut Vec<String>,
) -> Vec<Bundle> {
    let mut out = Vec::new();
    apps_in(root, paths::APPLICATIONS, None, 1, &mut out, warnings);
    for (home, owner) in homes {
        apps_in(
            root,
            &join(home, "Applications"),
            owner.as_deref(),
            1,
            &mut out,
            warnings,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>CFBundleExecutable</key><string>AnyDesk</string>
<key>CFBundleIdentifier</key><string>com.philandro.anydesk</string>
<key>CFBundleName</key><string>AnyDesk</string>
<key>CFBundleShortVersionString</key><string>8.0.5</string>
</dict></plist>"#;

    #[test]
    fn xml_and_binary_info_plists() {
        let info = parse_info_plist(INFO.as_bytes()).unwrap();
        assert_eq!(
            info,
            InfoPlist {
                bundle_id: "com.philandro.anydesk".into(),
                name: Some("AnyDesk".into()),
                version: Some("8.0.5".into()),
                executable: Some("AnyDesk".into()),
            }
        );
        let value = plist::Value::from_reader_xml(INFO.as_bytes()).unwrap();
        let mut binary = Vec::new();
        value.to_writer_binary(&mut binary).unwrap();
        assert!(binary.starts_with(b"bplist00"));
        assert_eq!(
            parse_info_plist(&binary).unwrap().bundle_id,
            "com.philandro.anydesk"
        );
        // Cut short, garbage, or without an identifier: errors, not panics.
        assert!(parse_info_plist(&binary[..binary.len() / 2]).is_err());
        assert!(parse_info_plist(b"\x00\x01garbage").is_err());
        assert!(parse_info_plist(b"<plist version=\"1.0\"><dict></dict></plist>").is_err());
    }
}
