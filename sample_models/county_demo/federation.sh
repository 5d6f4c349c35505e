#!/bin/sh
# Three levels on loopback (make demo-federation): the county (private, with
# 3D Tiles) on 8002, the Hohhot district as the city on 8001, the region on
# 8000 with both as members. Ctrl-C stops all three.
# usage: federation.sh BIN_DIR OUT_DIR
set -eu
BIN=$1
OUT=$2
umask 077
[ -s "$OUT/county.token" ] || "$BIN/python" -c "import secrets; print(secrets.token_urlsafe(24))" > "$OUT/county.token"
cat > "$OUT/members.toml" <<TOML
[federation]
name = "nei-mongol"
level = "region"
code = "150000"

[[members]]
name = "hohhot"
level = "city"
code = "150100"
url = "http://127.0.0.1:8001"

[[members]]
name = "tumed-left"
level = "county"
code = "150121"
url = "http://127.0.0.1:8002"
token_file = "county.token"
TOML
pids=""
trap 'kill $pids 2>/dev/null' EXIT INT TERM
"$BIN/twin" serve "$OUT/county.gpkg" --port 8002 --read-token-file "$OUT/county.token" \
    --tiles "$OUT/county_tiles" --title "Tumed Left Banner (county)" --access-log off &
pids="$pids $!"
"$BIN/twin" serve "$OUT/demo.gpkg" --port 8001 --title "Hohhot (city)" --access-log off &
pids="$pids $!"
tries=0   # wait for both members (a minute at most), then show them
until "$BIN/twin" federation check "$OUT/members.toml" >/dev/null 2>&1 || [ $tries -ge 60 ]; do
    tries=$((tries + 1)); sleep 1
done
"$BIN/twin" federation check "$OUT/members.toml" || true
echo "region: http://127.0.0.1:8000/federation/members, /federation/search?layer=buildings, /federation/indicators, /federation/tileset.json"
"$BIN/twin" serve "$OUT/region.gpkg" --port 8000 --members "$OUT/members.toml" \
    --title "Nei Mongol (region)"
