//! Listening sockets, from `/proc/net/{tcp,tcp6,udp,udp6}` (Linux).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::root::{paths, HostRoot};

const NET_CAP: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    pub address: String,
    pub port: u32,
    pub inode: u64,
    pub uid: u32,
}

impl Listener {
    /// True when only this machine can connect (127.0.0.0/8, ::1, or an
    /// IPv4-mapped loopback address).
    pub fn is_loopback(&self) -> bool {
        match self.address.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback(),
            Ok(std::net::IpAddr::V6(v6)) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
            Err(_) => false,
        }
    }
}

fn parse_addr(hex: &str) -> Option<(String, u32)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u32::from_str_radix(port, 16).ok()?;
    let addr = match ip.len() {
        8 => Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes()).to_string(),
        32 => {
            // Four 32-bit words, each in host (little-endian) byte order.
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = ip.get(i * 8..i * 8 + 8)?;
                let value = u32::from_str_radix(word, 16).ok()?.swap_bytes();
                chunk.copy_from_slice(&value.to_be_bytes());
            }
            Ipv6Addr::from(bytes).to_string()
        }
        _ => return None,
    };
    Some((addr, port))
}

/// Parses one `/proc/net/*` table, keeping listening TCP sockets
/// (state 0A) or bound UDP sockets (state 07). Pure; bad lines are skipped.
pub fn parse_proc_net(text: &str, protocol: &'static str) -> Vec<Listener> {
    let want_state = if protocol == "tcp" { "0A" } else { "07" };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&want_state) {
                return None;
            }
            let (address, port) = parse_addr(f.get(1)?)?;
            if protocol == "udp" && port == 0 {
                return None;
            }
            Some(Listener {
                protocol,
                address,
                port,
                uid: f.get(7)?.parse().ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// An established TCP connection: where it goes, and its socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub local_port: u32,
    pub remote_address: String,
    pub remote_port: u32,
    pub inode: u64,
    pub uid: u32,
}

/// Parses one `/proc/net/tcp` or `tcp6` table, keeping established
/// connections (state 01). Pure; bad lines are skipped.
pub fn parse_established(text: &str) -> Vec<Connection> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&"01") {
                return None;
            }
            let (_, local_port) = parse_addr(f.get(1)?)?;
            let (remote_address, remote_port) = parse_addr(f.get(2)?)?;
            Some(Connection {
                local_port,
                remote_address,
                remote_port,
                uid: f.get(7)?.parse().ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Established outbound TCP connections (IPv4 and IPv6) to other machines.
pub fn established(root: &HostRoot) -> Vec<Connection> {
    let mut out = Vec::new();
    for file in ["tcp", "tcp6"] {
        match root.read_string_capped(&format!("{}/net/{file}", paths::PROC), NET_CAP) {
            Ok(text) => out.extend(parse_established(&text)),
            Err(e) if e.is_not_found() => {}
            Err(e) => log::info!("{e}"),
        }
    }
    out.retain(|c| {
        !Listener {
            protocol: "tcp",
            address: c.remote_address.clone(),
            port: c.remote_port,
            inode: c.inode,
            uid: c.uid,
        }
        .is_loopback()
    });
    out
}

pub fn listeners(root: &HostRoot) -> Vec<Listener> {
    let mut out = Vec::new();
    for (file, protocol) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    ] {
        match root.read_string_capped(&format!("{}/net/{file}", paths::PROC), NET_CAP) {
            Ok(text) => out.extend(parse_proc_net(&text, protocol)),
            Err(e) if e.is_not_found() => {}
            Err(e) => log::info!("{e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_listeners() {
        let at = |address: &str| Listener {
            protocol: "tcp",
            address: address.to_string(),
            port: 7070,
            inode: 1,
            uid: 0,
        };
        for address in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(at(address).is_loopback(), "{address}");
        }
        for address in ["0.0.0.0", "::", "192.168.1.5", "not an address"] {
            assert!(!at(address).is_loopback(), "{address}");
        }
    }

    #[test]
    fn parses_tcp_and_tcp6() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1B9E 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0016 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 1111 1\n";
        let l = parse_proc_net(tcp, "tcp");
        assert_eq!(
            l,
            [Listener {
                protocol: "tcp",
                address: "0.0.0.0".into(),
                port: 7070,
                inode: 424242,
                uid: 1000
            }]
        );
        let tcp6 = "header\n   0: 00000000000000000000000001000000:170C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1\n";
        let l6 = parse_proc_net(tcp6, "tcp");
        assert_eq!(
            l6.first().map(|l| (l.address.as_str(), l.port)),
            Some(("::1", 5900))
        );
    }

    #[test]
    fn established_connections() {
        let tcp = "header\n   0: 0A00020F:D2F0 5DB8D822:527C 01 00000000:00000000 00:00000000 00000000  1000        0 777 1\n   1: 00000000:1B9E 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1\n";
        assert_eq!(
            parse_established(tcp),
            [Connection {
                local_port: 0xD2F0,
                remote_address: "34.216.184.93".into(),
                remote_port: 21116,
                inode: 777,
                uid: 1000
            }]
        );
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse_proc_net("header\nnonsense\n 0: zz:zz zz 0A\n", "tcp").is_empty());
        assert!(parse_proc_net("", "udp").is_empty());
    }
}
