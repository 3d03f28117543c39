#!/usr/bin/env bash
# Vendor Swagger UI into gateway/static/apidocs/ so the gateway serves its API reference (/docs)
# itself: no CDN, works offline and under a strict CSP. Needs only `npm pack` (registry access);
# the result is committed, so a clean clone never runs this. `init.js` and `init.css` are ours.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/gateway/static/apidocs"
SPEC="swagger-ui-dist@5.35.0"
FILES=(swagger-ui-bundle.js swagger-ui.css)

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "$SPEC" >/dev/null && tar -xzf swagger-ui-dist-*.tgz)

mkdir -p "$DEST"
entries=()
for name in "${FILES[@]}"; do
  cp "$TMP/package/$name" "$DEST/$name"
  sri="sha384-$(openssl dgst -sha384 -binary "$DEST/$name" | openssl base64 -A)"
  entries+=("$(printf '    {"name": "%s", "source": "%s", "path": "%s", "integrity": "%s"}' \
    "$name" "$SPEC" "$name" "$sri")")
done
cp "$TMP/package/LICENSE" "$DEST/LICENSE.swagger-ui"
cp "$TMP/package/NOTICE" "$DEST/NOTICE.swagger-ui"
cp "$TMP/package/swagger-ui-bundle.js.LICENSE.txt" "$DEST/LICENSE.swagger-ui-bundle-dependencies"

{
  echo "{"
  echo '  "files": ['
  for i in "${!entries[@]}"; do
    sep=","
    [[ $i -eq $((${#entries[@]} - 1)) ]] && sep=""
    echo "${entries[$i]}$sep"
  done
  echo "  ]"
  echo "}"
} >"$DEST/MANIFEST.json"

echo "vendored ${#entries[@]} files into $DEST"
