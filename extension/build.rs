//! Embeds every catalog file (`catalog/<kind>/*.json`) into the binary, so a
//! new catalog file needs no code change.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let out_dir = env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let mut code = String::new();
    for kind in [
        "remote_access",
        "security_agents",
        "controls",
        "hygiene",
        "laptop_farm",
    ] {
        let dir = Path::new(&manifest).join("catalog").join(kind);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let _ = writeln!(
            code,
            "pub const {}: &[(&str, &str)] = &[",
            kind.to_uppercase()
        );
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(
                code,
                "    ({name:?}, include_str!({:?})),",
                file.display().to_string()
            );
        }
        code.push_str("];\n");
    }
    if let Err(e) = fs::write(Path::new(&out_dir).join("catalog_files.rs"), code) {
        println!("cargo:warning=cannot write catalog_files.rs: {e}");
    }
}
