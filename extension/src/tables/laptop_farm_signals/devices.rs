//! What is plugged in and what runs: USB capture devices, jigglers, gadget
//! identities and USB/IP (`catalog/laptop_farm/devices.json` against
//! `/sys/bus/usb/devices`), the virtual input devices remote-input programs
//! create (`/proc/bus/input/devices`), and the consumer VPN, proxy and
//! keep-awake tools of the laptop-farm catalog by the cheap kinds of
//! evidence (running process, package, app bundle, install path, service
//! unit or launchd job, a user's configuration), each a stat or a lookup.

use std::sync::LazyLock;

use serde::Deserialize;

use crate::catalog::{Catalog, ToolIndex, UsbIdentity};
use crate::host::snapshot::Snapshot;
use crate::host::usb::UsbDevice;
use crate::root::{join, paths, HostRoot};

#[derive(Debug, Deserialize)]
pub struct DeviceCatalog {
    pub devices: Vec<Device>,
    pub virtual_input: Vec<VirtualInput>,
}

#[derive(Debug, Deserialize)]
pub struct Device {
    pub id: String,
    pub name: String,
    /// capture, jiggler, hid_gadget, usbip.
    pub kind: String,
    #[serde(default)]
    pub generic: bool,
    pub usb: Vec<UsbIdentity>,
}

#[derive(Debug, Deserialize)]
pub struct VirtualInput {
    pub names: Vec<String>,
    pub tool: String,
    #[serde(default)]
    pub generic: bool,
}

pub fn device_catalog() -> Result<&'static DeviceCatalog, &'static String> {
    static CATALOG: LazyLock<Result<DeviceCatalog, String>> = LazyLock::new(|| {
        let text = crate::catalog::embedded::LAPTOP_FARM
            .iter()
            .find(|(name, _)| *name == "devices.json")
            .map(|(_, t)| *t)
            .ok_or_else(|| "devices.json is not in the binary".to_string())?;
        let c: DeviceCatalog =
            serde_json::from_str(text).map_err(|e| format!("devices.json: {e}"))?;
        for d in &c.devices {
            for u in &d.usb {
                // A vendor id alone would name every product of the vendor.
                if u.vendor_id.is_none() || (u.product_id.is_none() && u.product.is_none()) {
                    return Err(format!(
                        "devices.json: {}: an identity needs a vendor id and a product id or name",
                        d.id
                    ));
                }
            }
        }
        Ok(c)
    });
    CATALOG.as_ref()
}

/// Whether a device presents an identity: every field the identity gives
/// matches (ids exactly, strings without case and surrounding spaces). Pure.
pub fn usb_matches(id: &UsbIdentity, dev: &UsbDevice) -> bool {
    let same = |want: &Option<String>, have: &str| {
        want.as_deref()
            .is_none_or(|w| w.trim().eq_ignore_ascii_case(have.trim()))
    };
    same(&id.vendor_id, &dev.vendor_id)
        && same(&id.product_id, &dev.product_id)
        && same(&id.manufacturer, &dev.manufacturer)
        && same(&id.product, &dev.product)
}

/// The names of `/proc/bus/input/devices` (`N: Name="..."`). Pure.
pub fn input_device_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("N: Name="))
        .map(|n| n.trim().trim_matches('"').to_string())
        .collect()
}

/// Whether an input device name is one of a program's (`Weylus Mouse - 2`
/// is Weylus's second client). Pure.
pub fn virtual_input_matches(known: &str, name: &str) -> bool {
    name == known
        || name
            .strip_prefix(known)
            .is_some_and(|rest| rest.starts_with(" - "))
}

/// A tool of the laptop-farm catalog found on the host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ToolHit {
    pub tool: ToolIndex,
    /// process, package, app_bundle, file, service, config.
    pub evidence_type: &'static str,
    pub evidence: String,
    pub path: String,
    /// A running process, now.
    pub running: bool,
}

/// The laptop-farm catalog's tools by the cheap kinds of evidence.
pub fn find_tools(root: &HostRoot, host: &Snapshot<'_>, catalog: &Catalog) -> Vec<ToolHit> {
    let mut hits = Vec::new();
    for process in host.processes() {
        let names = process.names();
        let found = names.iter().find_map(|n| {
            let exact = catalog.by_process_name(n);
            if !exact.is_empty() {
                return Some((exact.to_vec(), *n));
            }
            let normal = catalog.by_normal_name(n);
            (!normal.is_empty()).then(|| (normal.to_vec(), *n))
        });
        if let Some((tools, name)) = found {
            for tool in tools {
                hits.push(ToolHit {
                    tool,
                    evidence_type: "process",
                    evidence: format!("process {name} (pid {}) running", process.pid),
                    path: process.path().unwrap_or("").to_string(),
                    running: true,
                });
            }
        }
    }
    for p in host.packages() {
        for &tool in catalog.by_package(&p.name) {
            hits.push(ToolHit {
                tool,
                evidence_type: "package",
                evidence: format!(
                    "{} package {} {} installed",
                    p.source,
                    p.name,
                    p.version.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_string(),
                path: p.path.clone(),
                running: false,
            });
        }
    }
    for b in host.bundles() {
        for &tool in catalog.by_bundle_id(&b.bundle_id) {
            hits.push(ToolHit {
                tool,
                evidence_type: "app_bundle",
                evidence: format!("app bundle {} ({})", b.bundle_id, b.path),
                path: b.path.clone(),
                running: false,
            });
        }
    }
    let homes: Vec<&str> = host
        .accounts()
        .homes
        .iter()
        .map(|(h, _)| h.as_str())
        .collect();
    for (idx, tool) in catalog.tools.iter().enumerate() {
        for path in tool.linux.paths.iter().chain(&tool.macos.paths) {
            if !crate::catalog::is_pattern(path) && root.exists(path) {
                hits.push(ToolHit {
                    tool: idx,
                    evidence_type: "file",
                    evidence: format!("install path {path} exists"),
                    path: path.clone(),
                    running: false,
                });
            }
        }
        for unit in &tool.linux.services {
            for dir in paths::SYSTEMD_UNIT_DIRS {
                let p = join(dir, unit);
                if root.exists(&p) {
                    hits.push(ToolHit {
                        tool: idx,
                        evidence_type: "service",
                        evidence: format!("systemd unit {unit}"),
                        path: p,
                        running: false,
                    });
                }
            }
        }
        for label in &tool.macos.launchd {
            let plist = format!("{label}.plist");
            let dirs = paths::LAUNCHD_DIRS.iter().map(|d| join(d, &plist)).chain(
                homes
                    .iter()
                    .map(|h| join(&join(h, paths::HOME_LAUNCH_AGENTS), &plist)),
            );
            for p in dirs {
                if root.exists(&p) {
                    hits.push(ToolHit {
                        tool: idx,
                        evidence_type: "service",
                        evidence: format!("launchd job {label}"),
                        path: p,
                        running: false,
                    });
                }
            }
        }
        for rel in tool.linux.home_paths.iter().chain(&tool.macos.home_paths) {
            for home in &homes {
                let p = join(home, rel);
                if root.symlink_metadata(&p).is_ok() {
                    hits.push(ToolHit {
                        tool: idx,
                        evidence_type: "config",
                        evidence: format!("{p} exists"),
                        path: p,
                        running: false,
                    });
                }
            }
        }
    }
    hits.sort();
    hits.dedup();
    hits
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn dev(v: &str, p: &str, m: &str, prod: &str) -> UsbDevice {
        UsbDevice {
            name: "1-2".into(),
            vendor_id: v.into(),
            product_id: p.into(),
            manufacturer: m.into(),
            product: prod.into(),
            serial: String::new(),
        }
    }

    #[test]
    fn the_device_catalog_loads_and_matches() {
        let c = device_catalog().unwrap();
        assert!(c.devices.iter().any(|d| d.kind == "capture"));
        let ms2109 = c
            .devices
            .iter()
            .find(|d| d.id == "macrosilicon_ms2109")
            .unwrap();
        assert!(ms2109
            .usb
            .iter()
            .any(|u| usb_matches(u, &dev("534d", "2109", "MACROSILICON", "USB Video"))));
        assert!(!ms2109
            .usb
            .iter()
            .any(|u| usb_matches(u, &dev("534d", "2110", "MACROSILICON", ""))));
        let gc551 = c
            .devices
            .iter()
            .find(|d| d.id == "avermedia_live_gamer")
            .unwrap();
        // Trailing spaces in a product string do not hide it.
        assert!(gc551
            .usb
            .iter()
            .any(|u| usb_matches(u, &dev("07ca", "0551", "AVerMedia", "GC551       "))));
    }

    #[test]
    fn virtual_input_devices() {
        let text = "I: Bus=0003 Vendor=046d Product=c52b Version=0111\nN: Name=\"Logitech USB Receiver\"\nP: Phys=usb-0000:00:14.0-1/input0\n\nI: Bus=0006 Vendor=2333 Product=6666 Version=0000\nN: Name=\"ydotoold virtual device\"\n\nN: Name=\"Weylus Mouse - 2\"\n";
        let names = input_device_names(text);
        assert_eq!(
            names,
            [
                "Logitech USB Receiver",
                "ydotoold virtual device",
                "Weylus Mouse - 2"
            ]
        );
        assert!(virtual_input_matches("Weylus Mouse", "Weylus Mouse - 2"));
        assert!(!virtual_input_matches("Weylus Mouse", "Weylus Mousepad"));
    }
}
