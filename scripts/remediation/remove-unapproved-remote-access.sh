#!/bin/sh
# Fleet remediation for "postern: no unapproved remote access tool" (Linux).
# Removes the Debian or RPM packages that postern reports as unapproved
# remote access tools, and nothing else. Safe to run twice: with nothing
# unapproved installed it does nothing. Refuses without postern (it never
# guesses package names) and never touches approved tools.
set -eu
case "$(uname -s)" in
    Linux) ;;
    Darwin) echo "remove-unapproved-remote-access: not on macOS: remove the app with its vendor's uninstaller (remote_access_tools names it and its path)" >&2; exit 2 ;;
    *) echo "remove-unapproved-remote-access: Linux only" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "remove-unapproved-remote-access: must run as root" >&2; exit 2; }
# postern wherever it is installed: the .deb/.rpm, scripts/install.sh, or
# fleetd (orbit keeps extensions in bin/extensions/<name>/<platform>/<channel>/).
# A candidate runs as root only when it and its directory are root's alone.
trusted() {
    for p in "$1" "$(dirname "$1")"; do
        [ -e "$p" ] && [ ! -L "$p" ] || return 1
        [ "$(stat -c %u "$p")" = 0 ] || return 1
        [ $(( 0$(stat -c %a "$p") & 022 )) -eq 0 ] || return 1
    done
}
POSTERN_FOUND=""
for candidate in ${POSTERN:-} /usr/lib/postern/postern.ext /usr/local/lib/postern/postern.ext \
        /opt/orbit/bin/extensions/postern_linux/linux/*/postern_linux.ext \
        /opt/orbit/bin/extensions/postern_linux_arm64/linux-arm64/*/postern_linux_arm64.ext; do
    [ -f "$candidate" ] && [ -x "$candidate" ] || continue
    if trusted "$candidate"; then POSTERN_FOUND=$candidate; break; fi
    echo "remove-unapproved-remote-access: ignoring $candidate: it or its directory is not root's alone" >&2
done
[ -n "$POSTERN_FOUND" ] || { echo "remove-unapproved-remote-access: postern not found; refusing" >&2; exit 3; }
POSTERN=$POSTERN_FOUND
# One package name per line: deb or rpm evidence, not approved.
packages=$("$POSTERN" query remote_access_tools --where evidence_type=package --where approved=0 --format json \
    | sed -n 's/^ *"evidence": "\(deb\|rpm\) package \([^ "]*\) .*/\1 \2/p' | sort -u)
if [ -z "$packages" ]; then
    echo "no unapproved remote access package is installed; nothing to do"
    exit 0
fi
echo "$packages" | while read -r kind name; do
    case "$kind" in
        deb) DEBIAN_FRONTEND=noninteractive apt-get remove -y --purge "$name" ;;
        rpm) if command -v dnf >/dev/null 2>&1; then dnf remove -y "$name"; else rpm -e "$name"; fi ;;
    esac
    echo "removed $kind package $name"
done
