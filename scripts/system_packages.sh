#!/usr/bin/env bash
# Debian packages the portal and its tests need: WeasyPrint's Pango/HarfBuzz, fonts for
# PDFs, Chromium for the browser tests, Node.js for DKFDS assets and the test OIDC provider.
# Installs only what is missing, so repeated runs are quick.
set -euo pipefail
packages=(chromium fonts-dejavu-core fonts-liberation2 libpango-1.0-0 libpangoft2-1.0-0
          libharfbuzz-subset0 poppler-utils nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm may come from elsewhere than Debian; what matters is that they run.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]}"
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
