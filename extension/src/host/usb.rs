//! USB devices, from sysfs (`/sys/bus/usb/devices/*`, Linux).

use crate::root::{join, paths, HostRoot};

const ATTR_CAP: u64 = 4096;
const MAX_DEVICES: usize = 4_096;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsbDevice {
    /// sysfs name, e.g. `1-2`.
    pub name: String,
    pub vendor_id: String,
    pub product_id: String,
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
}

pub fn usb_devices(root: &HostRoot) -> Vec<UsbDevice> {
    let Ok(names) = root.list_dir(paths::SYS_USB_DEVICES, MAX_DEVICES) else {
        return Vec::new();
    };
    let attr = |dir: &str, name: &str| -> String {
        root.read_string_capped(&join(dir, name), ATTR_CAP)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    names
        .into_iter()
        // Interfaces (`1-2:1.0`) carry no device descriptors.
        .filter(|n| !n.contains(':'))
        .filter_map(|name| {
            let dir = join(paths::SYS_USB_DEVICES, &name);
            let vendor_id = attr(&dir, "idVendor").to_ascii_lowercase();
            if vendor_id.is_empty() {
                return None;
            }
            Some(UsbDevice {
                product_id: attr(&dir, "idProduct").to_ascii_lowercase(),
                manufacturer: attr(&dir, "manufacturer"),
                product: attr(&dir, "product"),
                serial: attr(&dir, "serial"),
                vendor_id,
                name,
            })
        })
        .collect()
}
