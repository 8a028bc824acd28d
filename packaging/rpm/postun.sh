# postern %postun ($1: 0 when the package is erased, 1 on upgrade): take
# only its own line out of osqueryd's autoload file. The state in
# /var/lib/postern and the policy in /etc/postern are left (rpm has no
# purge; delete /var/lib/postern by hand to forget the baseline).
EXT=/usr/lib/postern/postern.ext
LOAD=/etc/osquery/extensions.load
if [ "$1" = 0 ] && [ -f "$LOAD" ] && grep -qxF "$EXT" "$LOAD"; then
    tmp=$(mktemp "$LOAD.XXXXXX")
    grep -vxF "$EXT" "$LOAD" > "$tmp" || true
    chmod --reference="$LOAD" "$tmp" 2>/dev/null || chmod 0644 "$tmp"
    mv -f "$tmp" "$LOAD"
fi
exit 0
