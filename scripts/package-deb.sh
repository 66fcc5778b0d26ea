#!/usr/bin/env bash
# npm run package:deb [-- --arch amd64|arm64|all] [--out DIR]
#
# Builds smartcity_<version>_<arch>.deb with dpkg-deb (no debhelper): the compiled dist/ (no TypeScript at
# run time), the production node_modules only (this checkout's, pruned as `npm ci --omit=dev` would install
# them: offline, no registry), the web page and the scenarios, /etc/smartcity/gateway.yaml as a conffile,
# the hardened systemd unit, the examples and docs, and maintainer scripts for the smartcity user
# (packaging/). Both architectures come from one build: the code is JavaScript, and the one native addon
# (serialport's @serialport/bindings-cpp) ships N-API prebuilds for linux-x64 and linux-arm64 in its npm
# package (prebuilds/); each .deb keeps its own and the build fails if one is missing or if any other
# compiled addon or CPU-bound package would go into the wrong architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

arches=(amd64 arm64)
out="$ROOT/dist-deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) shift; [ "${1:-}" = all ] && arches=(amd64 arm64) || arches=("${1:?--arch amd64|arm64|all}") ;;
    --out) shift; out="${1:?--out DIR}" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "package-deb: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for a in "${arches[@]}"; do
  case "$a" in amd64|arm64) ;; *) echo "package-deb: architecture $a: amd64 or arm64" >&2; exit 2 ;; esac
done
command -v dpkg-deb >/dev/null || { echo "package-deb: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 1; }

version=$(node -p "require('./package.json').version")
umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/smartcity-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
app="$work/app"
mkdir -p "$app/bin" "$app/dashboards" "$app/simulators" "$out"

t0=$SECONDS
step() { printf 'package-deb: [%ss] %s\n' "$((SECONDS - t0))" "$*" >&2; }

step "compiling dist/ (tsc -p tsconfig.build.json)"
node node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir "$app/dist" --sourceMap false
node -e "require('node:fs').writeFileSync(process.argv[1], new Date().toISOString())" "$app/dist/.build-stamp"
cp bin/smartcity.js "$app/bin/"
chmod 0755 "$app/bin/smartcity.js"
cp package.json package-lock.json "$app/"
# What the code reads beside dist/: the live page, the scenarios (demo, simulate), Grafana's dashboards.
cp -r dashboards/web "$app/dashboards/"
mkdir -p "$app/dashboards/grafana"
cp -r dashboards/grafana/dashboards dashboards/grafana/provisioning "$app/dashboards/grafana/"
cp -r simulators/scenarios "$app/simulators/"

step "production node_modules (a copy of this checkout's, npm prune --omit=dev)"
cp -a "$(readlink -f node_modules)" "$app/node_modules"
(cd "$app" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$app/node_modules/.cache" "$app/node_modules/.vite" "$app/node_modules/.vite-temp" "$app/node_modules/.vitest"
# Not needed at run time: source maps (nothing runs with --enable-source-maps), and ECharts' unminified
# bundles (the gateway serves echarts/dist/echarts.min.js; `import 'echarts'` resolves into lib/): 50 MB.
find "$app/node_modules" -name '*.map' -type f -delete
find "$app/node_modules/echarts/dist" -maxdepth 1 -type f -name 'echarts*.*js' ! -name '*.min.js' ! -name '*.min.mjs' -delete 2>/dev/null || true
find "$app/node_modules" -mindepth 1 -type d -empty -delete
for dev in tsx typescript vitest @biomejs/biome esbuild vite; do
  if [ -e "$app/node_modules/$dev" ]; then echo "package-deb: $dev is still in node_modules after pruning" >&2; exit 1; fi
done

for arch in "${arches[@]}"; do
  case "$arch" in amd64) plat=linux-x64 cpu=x64 ;; arm64) plat=linux-arm64 cpu=arm64 ;; esac
  rootfs="$work/root-$arch"
  lib="$rootfs/usr/lib/smartcity"
  mkdir -p "$rootfs/usr/lib" "$rootfs/usr/bin" "$rootfs/etc/smartcity" "$rootfs/lib/systemd/system" \
    "$rootfs/usr/share/doc/smartcity/examples" "$rootfs/DEBIAN"
  cp -al "$app" "$lib"   # hard links: each architecture then removes the other's prebuilds

  step "$arch: native addons ($plat prebuilds only)"
  while IFS= read -r -d '' d; do
    if [ ! -d "$d/$plat" ]; then echo "package-deb: ${d#"$lib/"} has no $plat build" >&2; exit 1; fi
    find "$d" -mindepth 1 -maxdepth 1 ! -name "$plat" -exec rm -rf {} +
  done < <(find "$lib/node_modules" -type d -name prebuilds -print0)
  # An addon compiled on this machine (build/Release/*.node) is for this machine's CPU only.
  compiled=$(find "$lib/node_modules" -name '*.node' -not -path '*/prebuilds/*' -print)
  if [ -n "$compiled" ] && [ "$(dpkg --print-architecture)" != "$arch" ]; then
    echo "package-deb: compiled for $(dpkg --print-architecture), not $arch:" >&2; echo "$compiled" >&2; exit 1
  fi
  # A package that declares its CPUs (platform binaries of optional dependencies) must allow this one.
  node -e '
    const { readdirSync, readFileSync, existsSync } = require("node:fs"); const { join } = require("node:path")
    const [dir, cpu] = process.argv.slice(1); const bad = []
    const walk = (d) => { for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name === ".bin") continue
      const p = join(d, e.name)
      if (e.name.startsWith("@")) { walk(p); continue }
      const pj = join(p, "package.json")
      if (existsSync(pj)) { const m = JSON.parse(readFileSync(pj, "utf8"))
        const list = Array.isArray(m.cpu) ? m.cpu : []; const yes = list.filter((c) => !c.startsWith("!"))
        if (list.includes("!" + cpu) || (yes.length > 0 && !yes.includes(cpu))) bad.push(m.name) }
      if (existsSync(join(p, "node_modules"))) walk(join(p, "node_modules")) } }
    walk(dir); if (bad.length) { console.error("package-deb: not for " + cpu + ": " + bad.join(", ")); process.exit(1) }
  ' "$lib/node_modules" "$cpu"

  ln -s ../lib/smartcity/bin/smartcity.js "$rootfs/usr/bin/smartcity"
  install -m 0644 packaging/gateway.yaml "$rootfs/etc/smartcity/gateway.yaml"
  install -m 0644 packaging/smartcity.service "$rootfs/lib/systemd/system/smartcity.service"
  doc="$rootfs/usr/share/doc/smartcity"
  install -m 0644 packaging/copyright "$doc/copyright"
  install -m 0644 README.md gateway.example.yaml "$doc/"
  install -m 0644 docs/install.md docs/security.md docs/data-model.md "$doc/"
  install -m 0644 examples/*.yaml examples/README.md packaging/low-ports.conf "$doc/examples/"

  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$(du -sk --apparent-size "$rootfs" | cut -f1)/" \
    packaging/debian/control.in > "$rootfs/DEBIAN/control"
  install -m 0644 packaging/debian/conffiles "$rootfs/DEBIAN/conffiles"
  install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$rootfs/DEBIAN/"
  (cd "$rootfs" && find . -path ./DEBIAN -prune -o -type f ! -path ./etc/smartcity/gateway.yaml -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
  chmod -R u+rwX,go+rX,go-w "$rootfs"

  deb="$out/smartcity_${version}_${arch}.deb"
  step "$arch: dpkg-deb --build ($deb)"
  dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$rootfs" "$deb" >/dev/null
  echo "$deb"
done
