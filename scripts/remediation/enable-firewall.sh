#!/bin/sh
# Fleet remediation for "postern: firewall on" (Linux, macOS). Enables the
# host firewall that is installed: ufw if present, else firewalld; on macOS
# the application firewall. Safe to run
# twice: an active firewall is left alone. Refuses when neither is installed
# (installing a firewall is a packaging decision, not a remediation).
set -eu
[ "$(id -u)" -eq 0 ] || { echo "enable-firewall: must run as root" >&2; exit 2; }
case "$(uname -s)" in
    Linux) ;;
    Darwin)
        # The application firewall; a configuration profile that manages it wins over this.
        fw=${SOCKETFILTERFW:-/usr/libexec/ApplicationFirewall/socketfilterfw}
        [ -x "$fw" ] || { echo "enable-firewall: $fw not found; refusing" >&2; exit 3; }
        if "$fw" --getglobalstate | grep -q 'State = [12]'; then
            echo "the macOS application firewall is already on; nothing to do"
            exit 0
        fi
        "$fw" --setglobalstate on
        "$fw" --getglobalstate | grep -q 'State = [12]' || {
            echo "enable-firewall: the firewall is still off (is it managed by a configuration profile?)" >&2; exit 4; }
        echo "macOS application firewall enabled"
        exit 0 ;;
    *) echo "enable-firewall: Linux and macOS only" >&2; exit 2 ;;
esac
if command -v ufw >/dev/null 2>&1; then
    if ufw status | grep -q '^Status: active'; then
        echo "ufw is already active; nothing to do"
        exit 0
    fi
    # Keep remote administration reachable before turning the firewall on.
    ufw allow OpenSSH >/dev/null 2>&1 || true
    ufw --force enable
    echo "ufw enabled"
    exit 0
fi
if command -v firewall-cmd >/dev/null 2>&1; then
    if systemctl is-active --quiet firewalld; then
        echo "firewalld is already running; nothing to do"
        exit 0
    fi
    systemctl enable --now firewalld
    echo "firewalld enabled and started"
    exit 0
fi
echo "enable-firewall: neither ufw nor firewalld is installed; refusing to guess" >&2
exit 3
