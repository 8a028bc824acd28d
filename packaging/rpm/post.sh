# postern %post ($1: 1 on install, 2 on upgrade): the state directory, the
# empty policy directory, and one line in osqueryd's autoload file.
EXT=/usr/lib/postern/postern.ext
LOAD=/etc/osquery/extensions.load
mkdir -p /var/lib/postern
chown root:root /var/lib/postern
chmod 0700 /var/lib/postern
mkdir -p /etc/postern
if [ ! -d /etc/osquery ]; then
    mkdir -p /etc/osquery
    chmod 0755 /etc/osquery
fi
if [ ! -e "$LOAD" ]; then
    : > "$LOAD"
    chmod 0644 "$LOAD"
fi
if ! grep -qxF "$EXT" "$LOAD"; then
    tmp=$(mktemp "$LOAD.XXXXXX")
    cat "$LOAD" > "$tmp"
    if [ -s "$tmp" ] && [ "$(tail -c 1 "$tmp" | od -An -c | tr -d ' ')" != '\n' ]; then
        printf '\n' >> "$tmp"
    fi
    printf '%s\n' "$EXT" >> "$tmp"
    chmod --reference="$LOAD" "$tmp" 2>/dev/null || chmod 0644 "$tmp"
    mv -f "$tmp" "$LOAD"
fi
exit 0
