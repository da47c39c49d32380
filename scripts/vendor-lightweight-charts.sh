#!/usr/bin/env bash
# Vendor TradingView's lightweight-charts (Apache-2.0) into the dashboard's static files.
#
# The dashboard has no build step and its Content-Security-Policy allows scripts from its own
# origin only, so the library is committed as one file, fetched here from the npm registry at a
# pinned version with its integrity checked by npm. Run it again to upgrade:
#   scripts/vendor-lightweight-charts.sh 5.2.1
# then commit src/omegafarm/api/static/vendor/ and update VERSION in the dashboard docs.
set -euo pipefail
version="${1:-5.2.1}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/src/omegafarm/api/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "lightweight-charts@$version" >/dev/null)
tar -xzf "$work"/lightweight-charts-"$version".tgz -C "$work"
mkdir -p "$dest"
cp "$work/package/dist/lightweight-charts.standalone.production.js" "$dest/lightweight-charts.js"
cp "$work/package/LICENSE" "$dest/lightweight-charts.LICENSE"
[ -f "$work/package/NOTICE" ] && cp "$work/package/NOTICE" "$dest/lightweight-charts.NOTICE"
echo "$version" > "$dest/lightweight-charts.VERSION"
echo "vendored lightweight-charts $version into $dest"
