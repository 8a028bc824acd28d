//! Reverse SSH tunnels: an OpenSSH client asked to forward a port of a
//! remote host back to this one (`ssh -R`, `-o RemoteForward=...`, or a
//! `RemoteForward` line in an ssh configuration). Whoever holds the remote
//! end reaches this machine's services (its sshd, a VNC server) from
//! wherever they are, through a connection this machine opened.
//!
//! The parsers are pure; they follow OpenSSH's `ssh(1)` and
//! `ssh_config(5)`: options may come before and after the destination, a
//! short option's value may be glued to it (`-R2222:localhost:22`) or be the
//! next word, several flags may share one word (`-fNR`), and `--` ends
//! the options.

/// OpenSSH client options that take a value (`ssh.c`'s getopt string:
/// `b:c:e:i:l:m:o:p:B:D:E:F:I:J:L:O:P:Q:R:S:w:W:`).
const VALUE_OPTIONS: &[char] = &[
    'b', 'c', 'e', 'i', 'l', 'm', 'o', 'p', 'B', 'D', 'E', 'F', 'I', 'J', 'L', 'O', 'P', 'Q', 'R',
    'S', 'w', 'W',
];

/// What an ssh command line asks for that lets the far side in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReverseForwards {
    /// The forward specifications, as given (`2222:localhost:22`).
    pub forwards: Vec<String>,
    /// The destination (`user@host`), when the command line names one.
    pub destination: Option<String>,
}

/// The remote forwards in an OpenSSH client's argv (argv[0] included).
/// Pure.
pub fn reverse_forwards(argv: &[String]) -> ReverseForwards {
    let mut out = ReverseForwards::default();
    let mut words = argv.iter().skip(1);
    let mut options_ended = false;
    while let Some(word) = words.next() {
        if options_ended || !word.starts_with('-') || word == "-" {
            if out.destination.is_none() {
                // OpenSSH reads options again after the destination.
                out.destination = Some(word.clone());
                if options_ended {
                    break;
                }
                continue;
            }
            // The remote command: its words are not ssh's options.
            break;
        }
        if word == "--" {
            options_ended = true;
            continue;
        }
        let flags = &word[1..];
        for (at, flag) in flags.char_indices() {
            if !VALUE_OPTIONS.contains(&flag) {
                continue;
            }
            let glued = &flags[at + flag.len_utf8()..];
            let value = if glued.is_empty() {
                words.next().cloned().unwrap_or_default()
            } else {
                glued.to_string()
            };
            match flag {
                'R' if !value.is_empty() => out.forwards.push(value),
                'o' => {
                    if let Some(spec) = remote_forward_option(&value) {
                        out.forwards.push(spec);
                    }
                }
                _ => {}
            }
            break;
        }
    }
    out
}

/// The forward of an `ssh_config` line or `-o` value whose keyword is
/// `RemoteForward` (any case; `=` or blanks between keyword and value).
/// Pure.
fn remote_forward_option(line: &str) -> Option<String> {
    let line = line.trim_start();
    let split = line.find(|c: char| c == '=' || c.is_whitespace())?;
    let (keyword, rest) = line.split_at(split);
    if !keyword.eq_ignore_ascii_case("RemoteForward") {
        return None;
    }
    let value = rest
        .trim_start()
        .strip_prefix('=')
        .unwrap_or(rest)
        .trim()
        .to_string();
    (!value.is_empty()).then_some(value)
}

/// What an ssh configuration file says that matters here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigScan {
    /// `RemoteForward` settings, with the `Host` or `Match` line of the
    /// block each sits in (`None` before the first).
    pub forwards: Vec<(Option<String>, String)>,
    /// `Include` arguments (paths or patterns, as written).
    pub includes: Vec<String>,
}

/// `RemoteForward` and `Include` lines of an ssh configuration file.
/// Comments and blank lines are skipped. Pure.
pub fn scan_config<I, S>(lines: I) -> ConfigScan
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut block = None;
    let mut found = ConfigScan::default();
    for line in lines {
        let line = line.as_ref().trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split(|c: char| c == '=' || c.is_whitespace());
        let keyword = words.next().unwrap_or("");
        if keyword.eq_ignore_ascii_case("Host") || keyword.eq_ignore_ascii_case("Match") {
            block = Some(line.to_string());
        } else if keyword.eq_ignore_ascii_case("Include") {
            found
                .includes
                .extend(words.filter(|w| !w.is_empty()).map(str::to_string));
        } else if let Some(spec) = remote_forward_option(line) {
            found.forwards.push((block.clone(), spec));
        }
    }
    found
}

/// Whether settings under `block` (a `Host` or `Match` line, or none) apply
/// to a connection to `destination` (`user@host` or `host`). `Host` takes
/// patterns with `*` and `?` and `!` negations, as `ssh_config(5)` says; a
/// `Match` block is taken to apply (its criteria need the live
/// connection). Pure.
pub fn block_applies(block: Option<&str>, destination: &str) -> bool {
    let Some(block) = block else {
        return true;
    };
    let mut words = block
        .split(|c: char| c == '=' || c.is_whitespace())
        .filter(|w| !w.is_empty());
    let keyword = words.next().unwrap_or("");
    if keyword.eq_ignore_ascii_case("Match") {
        return true;
    }
    let host = destination.rsplit('@').next().unwrap_or(destination);
    let options = glob::MatchOptions {
        case_sensitive: false,
        ..glob::MatchOptions::default()
    };
    let mut matched = false;
    for pattern in words {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        let hit = glob::Pattern::new(pattern).is_ok_and(|p| p.matches_with(host, options));
        if hit && negated {
            return false;
        }
        matched |= hit;
    }
    matched
}

/// The configuration file an ssh command line names with `-F`, if any
/// (options before the destination). Pure.
pub fn config_file(argv: &[String]) -> Option<String> {
    let mut words = argv.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--" || !word.starts_with('-') {
            return None;
        }
        let flags = word.get(1..).unwrap_or("");
        for (at, flag) in flags.char_indices() {
            if !VALUE_OPTIONS.contains(&flag) {
                continue;
            }
            let glued = flags.get(at + flag.len_utf8()..).unwrap_or("");
            let value = if glued.is_empty() {
                words.next().cloned().unwrap_or_default()
            } else {
                glued.to_string()
            };
            if flag == 'F' && !value.is_empty() {
                return Some(value);
            }
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &str) -> Vec<String> {
        words.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn finds_remote_forwards_however_written() {
        let cases = [
            ("ssh -R 2222:localhost:22 relay", vec!["2222:localhost:22"]),
            (
                "ssh -fNR2222:localhost:22 me@relay",
                vec!["2222:localhost:22"],
            ),
            (
                "ssh -N -f -R 0.0.0.0:5900:127.0.0.1:5900 relay",
                vec!["0.0.0.0:5900:127.0.0.1:5900"],
            ),
            (
                "ssh relay -R 8022:localhost:22 -N",
                vec!["8022:localhost:22"],
            ),
            (
                "ssh -o RemoteForward=9000:localhost:22 relay",
                vec!["9000:localhost:22"],
            ),
            (
                "ssh -oremoteforward=9000:localhost:22 relay",
                vec!["9000:localhost:22"],
            ),
            ("ssh -R 1080 relay", vec!["1080"]),
            (
                "ssh -p 2200 -i key -R 1:a:2 -R 3:b:4 relay",
                vec!["1:a:2", "3:b:4"],
            ),
        ];
        for (line, want) in cases {
            assert_eq!(reverse_forwards(&argv(line)).forwards, want, "{line}");
        }
        assert_eq!(
            reverse_forwards(&argv("ssh -fNR 1:a:2 me@relay"))
                .destination
                .as_deref(),
            Some("me@relay")
        );
    }

    #[test]
    fn ignores_what_is_not_a_remote_forward() {
        for line in [
            "ssh relay",
            "ssh -L 8080:localhost:80 relay",
            "ssh -D 1080 relay",
            // The value of another option, and the remote command's words.
            "ssh -l -R relay",
            "ssh -i -R relay",
            "ssh relay grep -R foo /etc",
            "ssh -- relay -R 1:a:2",
            "ssh -o LocalForward=1:a:2 relay",
            "ssh -o RemoteForwardX=1 relay",
            "ssh -R",
        ] {
            assert!(reverse_forwards(&argv(line)).forwards.is_empty(), "{line}");
        }
    }

    #[test]
    fn reads_remote_forwards_and_includes_in_config_blocks() {
        let text = "# RemoteForward 1 a:2\nRemoteForward 7000 localhost:22\nHost relay\n  User me\n  remoteforward = 2222 localhost:22\nHost *\n  LocalForward 1 a:2\ninclude config.d/* ~/.ssh/extra\n";
        let found = scan_config(text.lines());
        assert_eq!(
            found.forwards,
            vec![
                (None, "7000 localhost:22".to_string()),
                (
                    Some("Host relay".to_string()),
                    "2222 localhost:22".to_string()
                ),
            ]
        );
        assert_eq!(found.includes, ["config.d/*", "~/.ssh/extra"]);
        assert!(scan_config("RemoteForward\nRemoteForward   \n".lines())
            .forwards
            .is_empty());
    }

    #[test]
    fn host_blocks_apply_as_ssh_config_says() {
        assert!(block_applies(None, "x"));
        assert!(block_applies(Some("Host relay"), "me@relay"));
        assert!(block_applies(
            Some("Host  *.example.net relay"),
            "a.example.net"
        ));
        assert!(block_applies(Some("host RELAY"), "relay"));
        assert!(!block_applies(Some("Host relay"), "other"));
        assert!(!block_applies(Some("Host * !relay"), "relay"));
        assert!(block_applies(Some("Host * !relay"), "other"));
        assert!(block_applies(Some("Match user me"), "anything"));
    }

    #[test]
    fn the_config_file_of_a_command_line() {
        assert_eq!(
            config_file(&argv("ssh -F /tmp/c jump")).as_deref(),
            Some("/tmp/c")
        );
        assert_eq!(
            config_file(&argv("ssh -NF/tmp/c jump")).as_deref(),
            Some("/tmp/c")
        );
        assert_eq!(config_file(&argv("ssh -i -F jump")), None);
        assert_eq!(config_file(&argv("ssh jump -F /tmp/c")), None);
    }
}
