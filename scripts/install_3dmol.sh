#!/usr/bin/env bash
# Put 3Dmol.js into static/vendor/ so the app's 3D viewer works without internet.
# Streamlit serves ./static at /app/static/ (server.enableStaticServing in .streamlit/config.toml).
# Source: the npm package `3dmol` (same version py3Dmol 2.5.5 loads from the CDN), via `npm pack`.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${THREEDMOL_VERSION:-2.5.5}"
DEST="static/vendor"
if [[ -s "$DEST/3Dmol-min.js" ]] && grep -q "$VERSION" "$DEST/3Dmol.version" 2>/dev/null; then
  echo "3Dmol.js $VERSION already in $DEST"; exit 0
fi
command -v npm >/dev/null || { echo "npm not found: install Node.js/npm, or the viewer falls back to the CDN" >&2; exit 1; }
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
( cd "$WORK" && npm pack --silent "3dmol@$VERSION" >/dev/null )
tar -xzf "$WORK"/3dmol-"$VERSION".tgz -C "$WORK" package/build/3Dmol-min.js package/build/3Dmol-min.js.LICENSE.txt package/LICENSE 2>/dev/null \
  || tar -xzf "$WORK"/3dmol-"$VERSION".tgz -C "$WORK" package/build/3Dmol-min.js
mkdir -p "$DEST"
cp "$WORK/package/build/3Dmol-min.js" "$DEST/3Dmol-min.js"
[[ -f "$WORK/package/LICENSE" ]] && cp "$WORK/package/LICENSE" "$DEST/3Dmol.LICENSE"
echo "$VERSION" > "$DEST/3Dmol.version"
echo "3Dmol.js $VERSION installed in $DEST ($(wc -c < "$DEST/3Dmol-min.js") bytes)"
