#!/bin/sh
# Fleet remediation for "postern: no unapproved remote access tool" (Linux).
# Removes the Debian or RPM packages that postern reports as unapproved
# remote access tools, and nothing else. Safe to run twice: with nothing
# unapproved installed it does nothing. Refuses without postern (it never
# guesses package names) and never touches approved tools.
set -eu
[ "$(uname -s)" = Linux ] || { echo "remove-unapproved-remote-access: Linux only" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "remove-unapproved-remote-access: must run as root" >&2; exit 2; }
POSTERN=${POSTERN:-/usr/local/lib/postern/postern.ext}
[ -x "$POSTERN" ] || { echo "remove-unapproved-remote-access: $POSTERN not found; refusing" >&2; exit 3; }
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
