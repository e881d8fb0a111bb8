#!/usr/bin/env bash
# Real-GPU benchmark: onnxruntime-web's WebGPU EP in Node.js on Dawn/Vulkan (tools/device/webgpu_node.mjs)
# against PyTorch CUDA on the same weights (tools/device/torch_cuda.py), for the default pack, a quick tiny16
# sanity pack and the full-size ImageNet 64x64 architecture with random weights (tools/device/make_fullsize.py).
# Writes $OUT/device_bench.json (one object: every result + a summary) and $OUT/log.txt.
#
#   bash tools/device/run.sh           # the benchmark
#   bash tools/device/run.sh --stage   # only store the payload part(s) carried in tmp/device/part-*/ for a later call
#   bash tools/device/run.sh --check   # only say what is present and what is missing
#
# Needs (each checked, with a message naming what is missing):
#   node >= 18            on PATH, or in the payload (tools/device/prepare.sh, carried as tmp/device/part-*)
#   dawn.node + ORT-web   the payload, or locally tmp/device/npm/node_modules/webgpu + node_modules/onnxruntime-web
#   libvulkan.so.1        the system's, or the payload's libvulkan1 .deb (unpacked under $BENCH_WORK, not into /)
#   a Vulkan ICD          NVIDIA's (/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json or /usr/share/vulkan/icd.d/),
#                         else a software one (SwiftShader, lavapipe), reported as software in the JSON
#   python3 with torch    (CUDA for the GPU numbers; TORCH_DEVICE=cpu for a try-out), onnx, numpy
#
# Environment (defaults): OUT (a new temp dir), BENCH_WORK (/tmp/device-bench), BENCH_PACKS
# ("public/models/tiny16 public/models/imagenette64"), BENCH_FULLSIZE (full | narrow | none; full),
# BENCH_BATCH (1), BENCH_WARMUP (3), BENCH_ITERS (20), TORCH_DEVICE (cuda), STEP_TIMEOUT (300 s per step),
# DAWN_FLAGS (passed to webgpu's create(), ';'-separated), PYTHON.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
MODE=run
case "${1:-}" in
  --stage) MODE=stage ;;
  --check) MODE=check ;;
  "") ;;
  *) echo "run.sh: unknown argument $1 (use --stage or --check)" >&2; exit 2 ;;
esac
WORK="${BENCH_WORK:-/tmp/device-bench}"
STAGED="$WORK/staged"
mkdir -p "$WORK" "$STAGED"
MISSING=()
say() { echo "run.sh: $*" >&2; }

# --- the payload (tools/device/prepare.sh), possibly carried over several calls ----------------------
for d in tmp/device/part-*/; do
  [ -f "$d/PAYLOAD" ] || continue
  # parts of another payload (an older prepare.sh run) are dropped
  cmp -s "$d/PAYLOAD" "$STAGED/PAYLOAD" 2>/dev/null || rm -f "$STAGED"/payload.tar.xz.* "$STAGED/PAYLOAD"
  cp -f "$d"/payload.tar.xz.* "$d/PAYLOAD" "$STAGED/" && say "staged $(ls "$d" | grep payload.tar.xz) from $d"
done
PAYLOAD_DIR=""
if [ -f "$STAGED/PAYLOAD" ]; then
  read -r SHA K < "$STAGED/PAYLOAD"
  HAVE=$(ls "$STAGED"/payload.tar.xz.[0-9]* 2>/dev/null | wc -l)
  if [ "$MODE" = stage ]; then
    say "$HAVE of $K payload part(s) staged in $STAGED"
    exit 0
  fi
  if [ "$HAVE" -lt "$K" ]; then
    MISSING+=("payload parts: $HAVE of $K staged in $STAGED (carry each tmp/device/part-i in a call of 'run.sh --stage' first, back to back so the machine stays warm)")
  elif [ -f "$WORK/payload/.sha256" ] && [ "$(cat "$WORK/payload/.sha256")" = "$SHA" ]; then
    PAYLOAD_DIR="$WORK/payload"
  else
    rm -rf "$WORK/payload" && mkdir -p "$WORK/payload"
    if [ "$(cat "$STAGED"/payload.tar.xz.[0-9]* | sha256sum | cut -d' ' -f1)" != "$SHA" ]; then
      MISSING+=("a payload whose sha256 matches $SHA (the staged parts are from different prepare.sh runs: clear $STAGED)")
    elif cat "$STAGED"/payload.tar.xz.[0-9]* | xz -dc | tar -C "$WORK/payload" -xf -; then
      echo "$SHA" > "$WORK/payload/.sha256"
      PAYLOAD_DIR="$WORK/payload"
    else
      MISSING+=("an intact payload (unpacking it failed)")
    fi
  fi
elif [ "$MODE" = stage ]; then
  say "no payload part in tmp/device/part-*/ (run tools/device/prepare.sh here and carry one)"
  exit 1
fi
if [ -n "$PAYLOAD_DIR" ]; then
  say "payload: $(cat "$PAYLOAD_DIR/VERSIONS")"
  export WEBGPU_PKG="$PAYLOAD_DIR/webgpu" ORT_WEB_DIST="$PAYLOAD_DIR/ort-web"
fi

# --- node ----------------------------------------------------------------------------------------------
NODE_BIN=""
for c in "${NODE:-}" "$(command -v node 2>/dev/null)" "${PAYLOAD_DIR:+$PAYLOAD_DIR/node/bin/node}"; do
  [ -n "$c" ] && [ -x "$c" ] || continue
  if [ "$("$c" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 18 ]; then NODE_BIN="$c"; break; fi
done
[ -n "$NODE_BIN" ] || MISSING+=("node >= 18 (not on PATH; carry the payload made by tools/device/prepare.sh without --no-node)")

# --- dawn.node and onnxruntime-web -----------------------------------------------------------------
WG="${WEBGPU_PKG:-}"
if [ -z "$WG" ]; then for c in tmp/device/npm/node_modules/webgpu node_modules/webgpu; do [ -f "$c/index.js" ] && WG="$c" && break; done; fi
[ -n "$WG" ] && [ -f "$WG/dist/linux-x64/dawn.node" ] || MISSING+=("the webgpu package's dist/linux-x64/dawn.node (payload, or tmp/device/npm via tools/device/prepare.sh)")
OW="${ORT_WEB_DIST:-node_modules/onnxruntime-web/dist}"
[ -f "$OW/ort-wasm-simd-threaded.jsep.wasm" ] && [ -f "$OW/ort.min.mjs" ] || MISSING+=("onnxruntime-web's ort.min.mjs + ort-wasm-simd-threaded.jsep.{mjs,wasm} (payload, or node_modules via npm ci)")

# --- Vulkan: loader and driver (scoped to the node processes: NODE_ENV_VARS) ----------------------------
NODE_LD="${LD_LIBRARY_PATH:-}"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && NODE_LD="${NODE_LD:+$NODE_LD:}$d"; done
if [ -n "$PAYLOAD_DIR" ] && [ -d "$PAYLOAD_DIR/debs" ]; then
  # unpack the carried libraries aside, and link only the sonames the system lacks
  rm -rf "$WORK/lib" && mkdir -p "$WORK/sys" "$WORK/lib"
  HAVE_SONAMES="$(ldconfig -p 2>/dev/null | awk 'NR > 1 {print $1}')"
  for deb in "$PAYLOAD_DIR"/debs/*.deb; do dpkg-deb -x "$deb" "$WORK/sys" 2>/dev/null || dpkg -x "$deb" "$WORK/sys"; done
  for so in "$WORK"/sys/usr/lib/x86_64-linux-gnu/*.so.[0-9]* "$WORK"/sys/lib/x86_64-linux-gnu/*.so.[0-9]*; do
    [ -e "$so" ] || continue
    name="$(basename "$so")"
    case "$name" in *.so.[0-9]) ;; *) continue ;; esac
    grep -qxF "$name" <<< "$HAVE_SONAMES" || ln -sf "$so" "$WORK/lib/$name"
  done
  NODE_LD="$WORK/lib${NODE_LD:+:$NODE_LD}"
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 ' && [ ! -e "$WORK/lib/libvulkan.so.1" ]; then
  MISSING+=("libvulkan.so.1, the Vulkan loader (not installed; the payload carries libvulkan1)")
fi
SOFTWARE_ICD=0
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && export VK_DRIVER_FILES="$f" VK_ICD_FILENAMES="$f" && break
  done
fi
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/lib/chromium/vk_swiftshader_icd.json /usr/share/vulkan/icd.d/lvp_icd.x86_64.json; do
    [ -f "$f" ] && export VK_DRIVER_FILES="$f" VK_ICD_FILENAMES="$f" SOFTWARE_ICD=1 && break
  done
  [ "$SOFTWARE_ICD" = 1 ] && say "WARNING: no NVIDIA Vulkan ICD found; using the software one $VK_ICD_FILENAMES (not GPU speed)"
fi
[ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] || MISSING+=("a Vulkan ICD json (NVIDIA's nvidia_icd.json; set VK_DRIVER_FILES)")
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$WORK/xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# --- python with torch ----------------------------------------------------------------------------
PY=""
for c in "${PYTHON:-}" python3 /usr/bin/python3; do
  [ -n "$c" ] || continue
  "$c" -c 'import torch, onnx, numpy' 2>/dev/null && PY="$c" && break
done
[ -n "$PY" ] || MISSING+=("python3 with torch, onnx and numpy")
TORCH_DEVICE="${TORCH_DEVICE:-cuda}"
if [ -n "$PY" ] && [ "$TORCH_DEVICE" = cuda ] && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  MISSING+=("a CUDA device for torch (torch.cuda.is_available() is False; TORCH_DEVICE=cpu for a try-out)")
fi

say "node: ${NODE_BIN:-none} | webgpu: ${WG:-none} | ort-web: $OW | VK ICD: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-none}} | python: ${PY:-none}"
if [ "${#MISSING[@]}" -gt 0 ]; then
  say "cannot run; missing:"
  for m in "${MISSING[@]}"; do echo "  - $m" >&2; done
  exit 3
fi
[ "$MODE" = check ] && { say "everything needed is present"; exit 0; }

# --- the benchmark ------------------------------------------------------------------------------------
OUT="${OUT:-$(mktemp -d /tmp/device-bench-out.XXXXXX)}"
mkdir -p "$OUT"
J="$WORK/json"
rm -rf "$J" && mkdir -p "$J"
LOG="$OUT/log.txt"
BATCH="${BENCH_BATCH:-1}" WARMUP="${BENCH_WARMUP:-3}" ITERS="${BENCH_ITERS:-20}"
STEP_TIMEOUT="${STEP_TIMEOUT:-300}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
STATUS=()

source tools/device/steps.sh  # step NAME TIMEOUT COMMAND...
WEBGPU=(env LD_LIBRARY_PATH="$NODE_LD" "$NODE_BIN" tools/device/webgpu_node.mjs --batch "$BATCH" --warmup "$WARMUP" --iters "$ITERS")
# onnxruntime-node where the repo's node_modules exist (here); on the GPU machine torch_cuda.py checks against
# the Python onnxruntime package's CPU EP instead
[ -f node_modules/onnxruntime-node/package.json ] && WEBGPU+=(--cpu-check)
TORCH=("$PY" tools/device/torch_cuda.py --device "$TORCH_DEVICE" --batch "$BATCH" --warmup "$WARMUP" --iters "$ITERS" --fp16)

bench_pack() {  # label, pack dir
  local label="$1" pack="$2"
  rm -rf "$WORK/io/$label" && mkdir -p "$WORK/io/$label"
  step "webgpu:$label" "$STEP_TIMEOUT" "${WEBGPU[@]}" --pack "$pack" --label "$label" --io-dir "$WORK/io/$label" --out "$J/webgpu_$label.json"
  # the app's WebGPU I/O: inputs uploaded once into GPU buffers both graphs bind, outputs read back after both
  step "webgpu-gpuio:$label" "$STEP_TIMEOUT" "${WEBGPU[@]}" --pack "$pack" --label "$label" --io gpu --out "$J/webgpuio_$label.json"
  step "torch:$label" "$STEP_TIMEOUT" "${TORCH[@]}" --pack "$pack" --label "$label" --io-dir "$WORK/io/$label" --out "$J/torch_$label.json"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"; } > "$J/gpu.txt"
for pack in ${BENCH_PACKS:-public/models/tiny16 public/models/imagenette64}; do
  [ -f "$pack/manifest.json" ] || { say "skipping $pack: no manifest.json"; continue; }
  bench_pack "$(basename "$pack")" "$pack"
done
case "${BENCH_FULLSIZE:-full}" in
  full|narrow)
    FS="$WORK/fullsize-${BENCH_FULLSIZE:-full}"
    NARROW=(); [ "${BENCH_FULLSIZE:-full}" = narrow ] && NARROW=(--narrow)
    if [ -f "$FS/pack/device_torch.json" ] || step "make_fullsize" "$STEP_TIMEOUT" env ADM_TORCH_THREADS="${ADM_TORCH_THREADS:-$(nproc)}" "$PY" tools/device/make_fullsize.py --out "$FS" "${NARROW[@]}"; then
      bench_pack "imagenet64-random${NARROW:+-narrow}" "$FS/pack"
    fi ;;
  none) ;;
  *) say "BENCH_FULLSIZE must be full, narrow or none" ;;
esac

# --- one JSON object ------------------------------------------------------------------------------------
printf '%s\n' "${STATUS[@]}" > "$J/steps.jsonl"
"$PY" - "$J" "$OUT/device_bench.json" "$SOFTWARE_ICD" <<'EOF'
import json, sys
from pathlib import Path
j, out, software_icd = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
res = {"gpu": (j / "gpu.txt").read_text().strip(), "softwareIcd": software_icd,
       "steps": [json.loads(l) for l in (j / "steps.jsonl").read_text().splitlines() if l.strip()],
       "webgpu": {}, "webgpuGpuIo": {}, "torch": {}, "summary": {}}
for f in sorted(j.glob("webgpu_*.json")):
    res["webgpu"][f.stem[len("webgpu_"):]] = json.loads(f.read_text())
for f in sorted(j.glob("webgpuio_*.json")):
    res["webgpuGpuIo"][f.stem[len("webgpuio_"):]] = json.loads(f.read_text())
for f in sorted(j.glob("torch_*.json")):
    res["torch"][f.stem[len("torch_"):]] = json.loads(f.read_text())
med = lambda d: (d or {}).get("median")
for label in sorted(set(res["webgpu"]) | set(res["torch"])):
    w, t, wg = res["webgpu"].get(label, {}), res["torch"].get(label, {}), res["webgpuGpuIo"].get(label, {})
    s = {}
    if w.get("adapter"):
        a = w["adapter"]
        s["adapter"] = f"{a.get('vendor')} {a.get('architecture')} {a.get('description')}" + (" (SOFTWARE)" if a.get("software") else "")
    for g in ("unet", "unetFp16", "classifierGrad"):
        wm = med(w.get("graphs", {}).get(g, {}).get("ms"))
        tm = med(t.get("graphs", {}).get(g, {}).get("msHostIO"))
        if wm is not None or tm is not None:
            s[g] = {"webgpuMs": wm, "torchMsHostIO": tm, "torchMs": med(t.get("graphs", {}).get(g, {}).get("ms")),
                    "webgpuOverTorch": round(wm / tm, 2) if wm and tm else None}
    for u in ("unet", "unetFp16"):
        wm = med(w.get("guidedStep", {}).get(u, {}).get("ms"))
        tm = med(t.get("guidedStep", {}).get(u, {}).get("msHostIO"))
        if wm is not None or tm is not None:
            s[f"guidedStep.{u}"] = {"webgpuMs": wm, "webgpuGpuIoMs": med(wg.get("guidedStep", {}).get(u, {}).get("ms")),
                                    "torchMsHostIO": tm, "webgpuOverTorch": round(wm / tm, 2) if wm and tm else None}
    gpuio_diff = {f"{g}.{k}": v for g, r in wg.get("graphs", {}).items() for k, v in (r.get("maxAbsDiffGpuIoVsCpuIo") or {}).items()}
    if gpuio_diff:
        s["maxAbsDiffGpuIoVsCpuIo"] = gpuio_diff
    s["maxAbsDiffWebgpuVsTorch"] = t.get("maxAbsDiffVsWebgpu")
    node_cpu = {f"{g}.{k}": v for g, r in w.get("graphs", {}).items() for k, v in (r.get("maxAbsDiffVsCpu") or {}).items()}
    s["maxAbsDiffWebgpuVsOrtCpu"] = node_cpu or t.get("webgpuMaxAbsDiffVsOrtCpu")
    if w.get("skipped"):
        s["webgpuSkipped"] = w["skipped"]
    res["summary"][label] = s
out.write_text(json.dumps(res, indent=1) + "\n")
print(json.dumps(res["summary"], indent=1))
EOF
say "wrote $OUT/device_bench.json and $OUT/log.txt"
FAILED=0
for s in "${STATUS[@]}"; do case "$s" in *'"exit": 0,'*) ;; *) FAILED=1 ;; esac; done
exit $FAILED
