#!/bin/sh
# Fleet remediation for "postern: EDR agent healthy" (Linux). Restarts and
# enables the service of an installed EDR agent that is not running. Safe to
# run twice: a running agent is left alone. Refuses when no known agent
# service is installed: reinstalling an agent needs its package and tokens.
set -eu
case "$(uname -s)" in
    Linux) ;;
    Darwin) echo "restart-edr: not on macOS: agents there run as protected system extensions; re-approve or reinstall the agent through the MDM" >&2; exit 2 ;;
    *) echo "restart-edr: Linux only" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "restart-edr: must run as root" >&2; exit 2; }
found=""
# Service units of the agents in postern's catalog.
for unit in falcon-sensor sentinelone mdatp elastic-agent ElasticEndpoint sophos-spl ds_agent cbagentd \
            traps_pmd taniumclient ir_agent qualys-cloud-agent wazuh-agent ampdaemon eea bdsec \
            clamav-daemon velociraptor_client osqueryd kesl; do
    if systemctl list-unit-files "$unit.service" --no-legend 2>/dev/null | grep -q "^$unit.service"; then
        found="$found $unit"
        if systemctl is-active --quiet "$unit"; then
            echo "$unit is running"
        else
            systemctl enable "$unit" >/dev/null 2>&1 || true
            systemctl restart "$unit"
            echo "$unit restarted"
        fi
    fi
done
if [ -z "$found" ]; then
    echo "restart-edr: no known EDR service is installed; reinstall the agent instead" >&2
    exit 3
fi
