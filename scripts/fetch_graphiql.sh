#!/usr/bin/env bash
# Vendor the GraphiQL UMD assets into gateway/static/graphiql/ so the gateway serves the IDE
# itself: no CDN, works offline and under a strict CSP. Needs only `npm pack` (registry access);
# the result is committed, so a clean clone never runs this.
#
# graphiql 4.1.2 is the last major with a UMD build; React 19 ships no UMD, hence React 18.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/gateway/static/graphiql"

# package@version|file in the tarball (under package/)|name served from DEST
ASSETS=(
  "react@18.3.1|umd/react.production.min.js|react.production.min.js"
  "react-dom@18.3.1|umd/react-dom.production.min.js|react-dom.production.min.js"
  "graphiql@4.1.2|dist/index.umd.js|graphiql.umd.js"
  "graphiql@4.1.2|dist/style.css|graphiql.css"
  "@graphiql/plugin-explorer@4.0.6|dist/index.umd.js|plugin-explorer.umd.js"
  "@graphiql/plugin-explorer@4.0.6|dist/style.css|plugin-explorer.css"
)
PACKAGES=(react@18.3.1 react-dom@18.3.1 graphiql@4.1.2 @graphiql/plugin-explorer@4.0.6)
# Fetched only for its LICENSE: plugin-explorer's UMD bundles graphiql-explorer (its one dependency).
LICENSE_ONLY=(graphiql-explorer@0.9.0)
# plugin-explorer's tarball ships no LICENSE file; its package.json says MIT and it is published
# from the graphql/graphiql monorepo, whose LICENSE is the one in the graphiql tarball.
declare -A LICENSE_FROM=(["@graphiql/plugin-explorer@4.0.6"]="graphiql@4.1.2")

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# "@graphiql/plugin-explorer@4.0.6" -> "graphiql-plugin-explorer-4.0.6.tgz" (npm's tarball name).
tarball_name() {
  local spec="$1" name version
  name="${spec%@*}"
  version="${spec##*@}"
  name="${name#@}"
  echo "${name//\//-}-${version}.tgz"
}

# Name the LICENSE of a package is saved as: "@graphiql/plugin-explorer@4.0.6" -> "LICENSE.plugin-explorer".
license_name() {
  local name="${1%@*}"
  echo "LICENSE.${name##*/}"
}

for spec in "${PACKAGES[@]}" "${LICENSE_ONLY[@]}"; do
  (cd "$TMP" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$TMP/$spec"
  tar -xzf "$TMP/$(tarball_name "$spec")" -C "$TMP/$spec"
done

# init.js and init.css in DEST are ours (hand-written), so only the vendored names are replaced.
mkdir -p "$DEST"
rm -f "$DEST"/LICENSE.* "$DEST/MANIFEST.json"

entries=()
for asset in "${ASSETS[@]}"; do
  IFS='|' read -r spec src name <<<"$asset"
  cp "$TMP/$spec/package/$src" "$DEST/$name"
  sri="sha384-$(openssl dgst -sha384 -binary "$DEST/$name" | openssl base64 -A)"
  entries+=("$(printf '    {"name": "%s", "source": "%s", "path": "%s", "integrity": "%s"}' \
    "$name" "$spec" "$src" "$sri")")
done

find_license() {
  find "$TMP/$1/package" -maxdepth 1 -iname 'LICENSE*' | head -n 1
}

for spec in "${PACKAGES[@]}" "${LICENSE_ONLY[@]}"; do
  license="$(find_license "$spec")"
  out="$DEST/$(license_name "$spec")"
  if [[ -n "$license" ]]; then
    cp "$license" "$out"
  elif [[ -n "${LICENSE_FROM[$spec]:-}" ]]; then
    {
      echo "$spec ships no LICENSE file; its package.json declares \"license\": \"MIT\" and it is"
      echo "published from the graphql/graphiql monorepo, whose LICENSE (from ${LICENSE_FROM[$spec]}) follows."
      echo
      cat "$(find_license "${LICENSE_FROM[$spec]}")"
    } >"$out"
  else
    echo "no LICENSE file in $spec" >&2
    exit 1
  fi
done

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
