#!/bin/sh
# Fleet remediation for "postern: firewall on" (Linux). Enables the host
# firewall that is installed: ufw if present, else firewalld. Safe to run
# twice: an active firewall is left alone. Refuses when neither is installed
# (installing a firewall is a packaging decision, not a remediation).
set -eu
[ "$(uname -s)" = Linux ] || { echo "enable-firewall: Linux only" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "enable-firewall: must run as root" >&2; exit 2; }
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
