#!/usr/bin/env bash
# Copies the Det Fælles Designsystem files the pages use (and our own small stylesheet)
# into portal/static/. The result is built, not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/dkfds ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
dist=node_modules/dkfds/dist
out=portal/static
rm -rf "$out"
mkdir -p "$out/css" "$out/fonts" "$out/img" "$out/js"
cp "$dist/css/dkfds.min.css" "$out/css/"
cp -r "$dist/fonts/IBMPlexSans" "$out/fonts/"
cp "$dist/img/all-svg-icons.svg" "$out/img/"
cp assets/portal.css "$out/css/"
cp assets/*.js "$out/js/" 2>/dev/null || true
cp assets/favicon.svg "$out/img/"
echo "assets built in $out"
