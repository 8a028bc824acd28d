#!/usr/bin/env bash
# Installs postern as an osquery extension that osqueryd autoloads.
#
#   sudo scripts/install.sh [--binary PATH] [--dest FILE] [--autoload FILE]
#   sudo scripts/install.sh --uninstall [--dest FILE] [--autoload FILE]
#
# osquery loads an autoloaded extension only if the file ends in `.ext`, is
# owned by root, has the owner-execute bit, is not writable by group or
# others, and does not sit in a directory with the sticky bit (see
# README "Installing"). This script sets exactly that up, and is safe to run
# twice.
set -euo pipefail

case "$(uname -s)" in
    Darwin) autoload_default=/var/osquery/extensions.load ;;
    *) autoload_default=/etc/osquery/extensions.load ;;
esac
repo="$(cd "$(dirname "$0")/.." && pwd)"
binary="$repo/target/release/postern"
dest=/usr/local/lib/postern/postern.ext
autoload="$autoload_default"
action=install

while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --dest) dest="$2"; shift 2 ;;
        --autoload) autoload="$2"; shift 2 ;;
        --uninstall) action=uninstall; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root: osquery only loads extensions owned by root" >&2
    exit 1
fi
case "$dest" in
    *.ext) ;;
    *) echo "install.sh: --dest must end in .ext (osquery refuses other names)" >&2; exit 1 ;;
esac

remove_line() {
    [ -f "$autoload" ] || return 0
    local tmp
    tmp="$(mktemp "$autoload.XXXXXX")"
    grep -vxF "$dest" "$autoload" > "$tmp" || true
    chmod 0644 "$tmp"
    mv -f "$tmp" "$autoload"
}

if [ "$action" = uninstall ]; then
    remove_line
    rm -f "$dest"
    rmdir "$(dirname "$dest")" 2>/dev/null || true
    echo "postern removed: $dest and its line in $autoload."
    echo "Restart osqueryd so it stops launching the extension."
    exit 0
fi

if [ ! -x "$binary" ]; then
    echo "install.sh: no binary at $binary; build it first: cargo build --release" >&2
    exit 1
fi
dir="$(dirname "$dest")"
# An existing directory is checked, never re-owned or re-moded (`install -d`
# would turn /tmp's 1777 into 0755, or take /usr/local/bin from its owner);
# only a missing one is created, root's and 0755.
if [ -d "$dir" ]; then
    if [ -n "$(find "$dir" -maxdepth 0 -perm -1000)" ]; then
        echo "install.sh: $dir has the sticky bit; osquery refuses extensions there" >&2
        exit 1
    fi
    owner="$(stat -c %u "$dir" 2>/dev/null || stat -f %u "$dir")"
    mode="$(stat -c %a "$dir" 2>/dev/null || stat -f %Lp "$dir")"
    if [ "$owner" != 0 ] || (( 8#$mode & 8#022 )); then
        echo "install.sh: $dir is not root's alone (owner or group/other write); choose another --dest" >&2
        exit 1
    fi
else
    mkdir -p "$dir"
    chown root:0 "$dir"
    chmod 0755 "$dir"
fi
# Copy to a temporary name, then rename: a running osqueryd never sees half a file.
install -o root -g 0 -m 0755 "$binary" "$dest.new"
mv -f "$dest.new" "$dest"

[ -d "$(dirname "$autoload")" ] || install -d -m 0755 "$(dirname "$autoload")"
touch "$autoload"
if ! grep -qxF "$dest" "$autoload"; then
    printf '%s\n' "$dest" >> "$autoload"
fi
chown root "$autoload"
chmod 0644 "$autoload"

cat <<MSG
postern installed as $dest (root, 0755) and listed in $autoload.

Check it:
  osqueryi --extension $dest --line 'SELECT tool_id, evidence_type, evidence FROM remote_access_tools;'
Then restart osqueryd (it reads $autoload at start), and confirm with:
  osqueryi --connect /var/osquery/osquery.em "SELECT name, version FROM osquery_extensions;"
Policy (optional): /etc/postern/policy.json, owned by root, not group/world-writable;
  check it with: $dest policy validate /etc/postern/policy.json
MSG
