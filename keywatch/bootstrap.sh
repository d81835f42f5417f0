#!/usr/bin/env bash
# Install what Keywatch needs on a fresh Debian/Ubuntu machine, idempotently:
# PostgreSQL 15 + PostGIS 3, Mosquitto, Node.js/npm (to fetch web assets once),
# optionally Chromium (browser tests), a .venv with the project, and the web
# assets served by the app itself. Usage: keywatch/bootstrap.sh [--browser]
set -euo pipefail
cd "$(dirname "$0")/.."

want=(postgresql-15 postgresql-15-postgis-3 mosquitto)
command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || want+=(python3-venv)
[[ "${1:-}" == "--browser" ]] && want+=(chromium fonts-wqy-microhei)

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q
  # Debian starts a system cluster and broker on install; ours are private, so
  # the packages' own services are not needed but are left as Debian sets them.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
stamp=.venv/.keywatch-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "bootstrap: installing the project into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi

assets=dashboard/assets
vendor=dashboard/static/vendor
if [[ ! -f $vendor/.installed || $assets/package.json -nt $vendor/.installed ]]; then
  echo "bootstrap: installing web assets from the npm registry"
  (cd $assets && npm ci --no-audit --no-fund --loglevel=error)
  rm -rf $vendor && mkdir -p $vendor
  cp -r $assets/node_modules/leaflet/dist $vendor/leaflet
  mkdir -p $vendor/chartjs $vendor/leaflet-heat
  cp $assets/node_modules/chart.js/dist/chart.umd.js $vendor/chartjs/chart.umd.js
  cp $assets/node_modules/chart.js/LICENSE.md $vendor/chartjs/LICENSE.md
  cp $assets/node_modules/leaflet.heat/dist/leaflet-heat.js $vendor/leaflet-heat/leaflet-heat.js
  touch $vendor/.installed
fi
