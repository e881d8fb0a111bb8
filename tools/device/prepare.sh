#!/usr/bin/env bash
# Run HERE (a machine with the npm registry and Debian's apt), before a device run: gathers what
# tools/device/run.sh needs on a GPU machine that has no network and, as far as we know, no Node.js, into
# tmp/device/ (ignored by git: the repository's .gitignore has /tmp/):
#
#   tmp/device/npm/node_modules/webgpu   the `webgpu` npm package (dawn.node), pinned; local runs use it directly
#   tmp/device/part-1 .. part-K/         payload.tar.xz split in parts: dawn.node for linux-x64 + the webgpu
#                                        package's index.js (4.6 MiB as xz), onnxruntime-web's JSEP build
#                                        (ort.min.mjs, ort-wasm-simd-threaded.jsep.{mjs,wasm}: 3.6 MiB), the Vulkan
#                                        loader and the libraries NVIDIA's ICD links to (.debs, 1 MiB) and, unless --no-node, this machine's
#                                        Node.js binary (23 MiB). Each part fits one device call beside the working
#                                        tree (64 MiB per call in all).
#
# Usage: bash tools/device/prepare.sh [--no-node] [--part-mib N]
# Prints the sizes and the device calls to make (docs/benchmarks.md, "Real-GPU device script").
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
WEBGPU_VERSION=0.6.2
WITH_NODE=1
PART_MIB=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-node) WITH_NODE=0 ;;
    --part-mib) PART_MIB="$2"; shift ;;
    *) echo "prepare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
D=tmp/device
mkdir -p "$D/npm"
git check-ignore -q "$D/npm" || { echo "prepare.sh: $D is not ignored by git; refusing to write there" >&2; exit 1; }

# 1. the webgpu package (prebuilt dawn.node for every platform; its postinstall only matters on macOS)
if ! grep -qs "\"version\": \"$WEBGPU_VERSION\"" "$D/npm/node_modules/webgpu/package.json"; then
  [ -f "$D/npm/package.json" ] || echo '{"private": true, "description": "tools/device/prepare.sh: the webgpu package"}' > "$D/npm/package.json"
  (cd "$D/npm" && npm install --no-audit --no-fund --ignore-scripts --no-package-lock "webgpu@$WEBGPU_VERSION")
fi
WG="$D/npm/node_modules/webgpu"
ORTW=node_modules/onnxruntime-web/dist
for f in "$WG/index.js" "$WG/dist/linux-x64/dawn.node" "$ORTW/ort.min.mjs" "$ORTW/ort-wasm-simd-threaded.jsep.mjs" "$ORTW/ort-wasm-simd-threaded.jsep.wasm"; do
  [ -f "$f" ] || { echo "prepare.sh: missing $f (run npm ci first)" >&2; exit 1; }
done

# 2. the payload
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
P="$STAGE/payload"
mkdir -p "$P/webgpu/dist/linux-x64" "$P/ort-web" "$P/debs"
cp "$WG/index.js" "$WG/package.json" "$WG/LICENSE.md" "$P/webgpu/"
cp "$WG/dist/linux-x64/dawn.node" "$P/webgpu/dist/linux-x64/"
cp "$ORTW/ort.min.mjs" "$ORTW/ort-wasm-simd-threaded.jsep.mjs" "$ORTW/ort-wasm-simd-threaded.jsep.wasm" "$P/ort-web/"
# the Vulkan loader, and what NVIDIA's ICD (libGLX_nvidia.so.0) links to; run.sh uses only those the system lacks
DEBS="libvulkan1 libglvnd0 libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0"
(cd "$P/debs" && apt-get download $DEBS >/dev/null) || { echo "prepare.sh: apt-get download $DEBS failed" >&2; exit 1; }
NODE_NOTE="no Node.js (the GPU machine must have node >= 18 on PATH)"
if [ "$WITH_NODE" = 1 ]; then
  NODE_BIN="$(readlink -f "$(command -v node)")"
  mkdir -p "$P/node/bin"
  cp "$NODE_BIN" "$P/node/bin/node"
  NODE_NOTE="node $("$NODE_BIN" --version) from $NODE_BIN"
fi
ORT_V=$(node -p "require('./node_modules/onnxruntime-web/package.json').version")
echo "webgpu $WEBGPU_VERSION; onnxruntime-web $ORT_V; $(ls "$P/debs" | tr "\n" " "); $NODE_NOTE" > "$P/VERSIONS"
tar -C "$P" -cf - . | xz -9 -T1 > "$STAGE/payload.tar.xz"

# 3. parts that fit one call each
TREE=$(git ls-files -z | xargs -0 stat -c %s | awk '{s+=$1} END {print s+0}')
UNTRACKED=$(git ls-files -z --others --exclude-standard | xargs -0 -r stat -c %s | awk '{s+=$1} END {print s+0}')
TREE=$((TREE + UNTRACKED))
if [ -z "$PART_MIB" ]; then
  PART_MIB=$(( (64 * 1048576 - TREE) / 1048576 - 1 ))  # what one call carries beside the tree, less 1 MiB of slack
fi
[ "$PART_MIB" -ge 1 ] || { echo "prepare.sh: the working tree alone is $((TREE / 1048576)) MiB: nothing can be carried" >&2; exit 1; }
rm -rf "$D"/part-[0-9]*
(cd "$STAGE" && split -b "${PART_MIB}M" -d -a 2 payload.tar.xz payload.tar.xz.)
SHA=$(sha256sum "$STAGE/payload.tar.xz" | cut -d' ' -f1)
K=$(ls "$STAGE"/payload.tar.xz.[0-9]* | wc -l)
i=0
for f in "$STAGE"/payload.tar.xz.[0-9]*; do
  i=$((i + 1))
  mkdir -p "$D/part-$i"
  cp "$f" "$D/part-$i/"
  echo "$SHA $K" > "$D/part-$i/PAYLOAD"
done
echo "payload: $(cat "$P/VERSIONS")"
echo "payload.tar.xz: $(( $(stat -c %s "$STAGE/payload.tar.xz") / 1024 )) KiB in $K part(s) of <= $PART_MIB MiB (sha256 $SHA)"
echo "working tree that travels with every call: $((TREE / 1048576)) MiB of 64 MiB"
echo
echo "Device calls from the repository root, back to back (a warm machine keeps /tmp for ~30 s between calls):"
for j in $(seq 1 "$K"); do
  if [ "$j" -lt "$K" ]; then
    echo "  run(carry=[\"tmp/device/part-$j\"], command=\"bash tools/device/run.sh --stage\")"
  else
    echo "  run(carry=[\"tmp/device/part-$j\"], command=\"bash tools/device/run.sh\", timeout_s=600)"
  fi
done
