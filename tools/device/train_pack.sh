#!/usr/bin/env bash
# The next default pack on one lent GPU (H100/H200): the wide U-Net (adm/train.py preset imagenette64-wide) and the
# classifier, trained with CUDA + bf16 autocast + channels_last + the data set held on the GPU, inside one 10-minute
# device call; the EMA weights come back in parts within the tool's file limits and the pack is made here.
# docs/benchmarks.md, "GPU training recipe", has the calls, the expected images/s and the limits behind them.
#
#   bash tools/device/train_pack.sh --prepare    # HERE: the data set in parts that fit one call beside the tree
#   bash tools/device/train_pack.sh --stage      # DEVICE: keep the carried part(s) in $TP_WORK/staged for the run
#   bash tools/device/train_pack.sh              # DEVICE: train both networks, send back weights + log via $OUT
#   bash tools/device/train_pack.sh --finish DIR # HERE: rebuild the run from DIR (the call's files) and make the pack
#   bash tools/device/train_pack.sh --dry-run    # HERE: every step above on the CPU at tiny size (checks the script)
#
# Why parts: every device call carries the whole working tree (52 MiB, the shipped packs) and at most 64 MiB in
# all, the GPU machine has no network and no ../shared, and the Imagenette-64 train JPEGs are 30 MB; so the data
# travels as tmp/device/train-data/part-K (ignored by git), one per call, the first K-1 with --stage back to back
# (a warm machine keeps /tmp for about 30 s between calls), the last with the run. The run sends back at most 8
# files of <= 16 MiB: weights.part-NN (float16 EMA, tools/device/slim_run.py), weights.json, train_pack.json,
# log.txt and unet_samples.png. It also runs make-pack on the GPU machine when time is left, as a check only: that
# pack (129 MB with its float32 graph) cannot come back in the same call, and `--finish` builds it here with the
# project's tested ONNX export (torch 1.13; a current torch exports with another exporter).
#
# Environment (defaults): TP_WORK (/tmp/train-pack), DATA (../shared/data/imagenette-64; --prepare), PRESET
# (imagenette64-wide), DEVICE (cuda), BATCH (256), CLS_BATCH (256), UNET_MIN (5), CLS_MIN (1.5), UNET_STEPS /
# CLS_STEPS (step budgets instead, for try-outs), COMPILE (0; 1 = torch.compile, worth it only for runs longer
# than its ~1 min of compiling), BUDGET_S (560: the run's deadline; device make-pack only if >= 90 s are left),
# PART_MIB (15: returned parts), THREADS (8: CPU threads per training process), DATA_PART_MIB (what one call can carry beside the tree, less 1 MiB), LIMIT_PER_CLASS
# (--prepare: a subset), PYTHON (the first of python3, /usr/bin/python3 that has torch), OUT (a new temp folder).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source tools/device/steps.sh  # step NAME TIMEOUT COMMAND...
MODE=run
FINISH_DIR=""
case "${1:-}" in
  --prepare) MODE=prepare ;;
  --stage) MODE=stage ;;
  --check) MODE=check ;;
  --finish) MODE=finish; FINISH_DIR="${2:-}"; [ -n "$FINISH_DIR" ] || { echo "train_pack.sh: --finish needs the folder of the call's files" >&2; exit 2; } ;;
  --dry-run) MODE=dry ;;
  "") ;;
  *) echo "train_pack.sh: unknown argument $1 (--prepare, --stage, --check, --finish DIR, --dry-run)" >&2; exit 2 ;;
esac
say() { echo "train_pack.sh: $*" >&2; }
PARTS_DIR="${TP_PARTS:-tmp/device/train-data}"
WORK="${TP_WORK:-/tmp/train-pack}"

find_python() {
  for c in "${PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$c" ] && "$c" -c 'import torch, numpy, PIL' 2>/dev/null && { echo "$c"; return 0; }
  done
  return 1
}

# --- here: the data set in parts ------------------------------------------------------------------------------
prepare() {
  local data="${DATA:-../shared/data/imagenette-64}"
  [ -d "$data/train" ] || { say "no ImageFolder at $data (set DATA)"; exit 2; }
  git check-ignore -q "$PARTS_DIR" || { say "$PARTS_DIR is not ignored by git; refusing to write there"; exit 1; }
  local stage; stage="$(mktemp -d)"
  mkdir -p "$stage/imagenette-64/train"
  for cls in "$data"/train/*/; do
    local name; name="$(basename "$cls")"
    mkdir -p "$stage/imagenette-64/train/$name"
    # a subset (LIMIT_PER_CLASS) for try-outs, in the sorted order adm.data reads
    find "$cls" -maxdepth 1 -type f | sort | head -n "${LIMIT_PER_CLASS:-1000000}" | xargs -r cp -t "$stage/imagenette-64/train/$name"
  done
  tar -C "$stage" -cf "$stage/data.tar" imagenette-64
  local part_mib="${DATA_PART_MIB:-}"
  if [ -z "$part_mib" ]; then
    local tree; tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
    part_mib=$(( (64 * 1048576 - tree) / 1048576 - 1 ))
    [ "$part_mib" -ge 1 ] || { say "the working tree alone is $((tree / 1048576)) MiB: no room for data"; exit 1; }
  fi
  local bytes; bytes=$(awk -v m="$part_mib" 'BEGIN {printf "%d", m * 1048576}')
  rm -rf "$PARTS_DIR" && mkdir -p "$PARTS_DIR"
  (cd "$stage" && split -b "$bytes" -d -a 2 data.tar data.tar.)
  local sha k i=0; sha=$(sha256sum "$stage/data.tar" | cut -d' ' -f1); k=$(ls "$stage"/data.tar.[0-9]* | wc -l)
  for f in "$stage"/data.tar.[0-9]*; do
    i=$((i + 1)); mkdir -p "$PARTS_DIR/part-$i"; cp "$f" "$PARTS_DIR/part-$i/"; echo "$sha $k" > "$PARTS_DIR/part-$i/DATA"
  done
  say "data: $(find "$stage/imagenette-64" -type f | wc -l) images, $(( $(stat -c %s "$stage/data.tar") / 1024 )) KiB in $k part(s) of <= $part_mib MiB (sha256 $sha)"
  rm -rf "$stage"
  echo "Device calls from the repository root, back to back (the machine keeps /tmp for ~30 s between calls):"
  for j in $(seq 1 "$k"); do
    if [ "$j" -lt "$k" ]; then echo "  run(carry=[\"$PARTS_DIR/part-$j\"], command=\"bash tools/device/train_pack.sh --stage\", timeout_s=60)"
    else echo "  run(carry=[\"$PARTS_DIR/part-$j\"], command=\"bash tools/device/train_pack.sh\", timeout_s=600)"; fi
  done
  echo "Then here: bash tools/device/train_pack.sh --finish <the call's files_at folder>"
}

# --- device: staged parts -> $WORK/data ------------------------------------------------------------------------
stage_parts() {  # copy carried parts into $WORK/staged; 0 when all parts of one data set are there
  mkdir -p "$WORK/staged"
  for d in "$PARTS_DIR"/part-*/; do
    [ -f "$d/DATA" ] || continue
    cmp -s "$d/DATA" "$WORK/staged/DATA" 2>/dev/null || rm -f "$WORK"/staged/data.tar.* "$WORK/staged/DATA"
    cp -f "$d"/data.tar.* "$d/DATA" "$WORK/staged/" && say "staged $(ls "$d" | grep data.tar) from $d"
  done
  [ -f "$WORK/staged/DATA" ] || { say "no data part staged (carry $PARTS_DIR/part-K, made by --prepare here)"; return 1; }
  read -r SHA K < "$WORK/staged/DATA"
  HAVE=$(ls "$WORK"/staged/data.tar.[0-9]* 2>/dev/null | wc -l)
  say "$HAVE of $K data part(s) staged in $WORK/staged"
  [ "$HAVE" -ge "$K" ]
}

unpack_data() {
  if [ -f "$WORK/data/.sha256" ] && [ "$(cat "$WORK/data/.sha256")" = "$SHA" ]; then return 0; fi
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  [ "$(cat "$WORK"/staged/data.tar.[0-9]* | sha256sum | cut -d' ' -f1)" = "$SHA" ] || { say "the staged parts do not add up (sha256; clear $WORK/staged and stage again)"; return 1; }
  cat "$WORK"/staged/data.tar.[0-9]* | tar -C "$WORK/data" -xf - && echo "$SHA" > "$WORK/data/.sha256"
}

# --- device: the run -----------------------------------------------------------------------------------------
run() {
  local t0=$SECONDS budget="${BUDGET_S:-560}"
  OUT="${OUT:-$(mktemp -d /tmp/train-pack-out.XXXXXX)}"
  mkdir -p "$OUT"
  LOG="$OUT/log.txt" STATUS=()
  local run_dir="$WORK/run"
  stage_parts || { say "cannot run: data parts missing (the --stage calls must come first, back to back)"; exit 3; }
  unpack_data || exit 3
  PY="$(find_python)" || { say "no python3 with torch, numpy and PIL"; exit 3; }
  local device="${DEVICE:-cuda}"
  if [ "$device" = cuda ] && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    say "torch sees no CUDA device (DEVICE=cpu for a try-out)"; exit 3
  fi
  [ "$MODE" = check ] && { say "everything needed is present"; exit 0; }
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
  "$PY" - > "$OUT/env.json" <<'EOF'
import json, platform, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
print(json.dumps(dict(torch=torch.__version__, python=platform.python_version(), gpu=gpu,
                      cuda=torch.version.cuda if torch.cuda.is_available() else None)))
EOF
  say "$(cat "$OUT/env.json")" 2>&1 | tee -a "$LOG"
  rm -rf "$run_dir"
  local common=(--data "$WORK/data/imagenette-64" --out "$run_dir" --preset "${PRESET:-imagenette64-wide}" --device "$device"
                --threads "${THREADS:-8}" --anneal-lr --sample-every-min 1000 --ckpt-every-min 2)
  [ "${COMPILE:-0}" = 1 ] && common+=(--compile)
  budget_flags() {  # minutes or steps
    if [ -n "${2:-}" ]; then echo "--max-steps $2"; else echo "--max-minutes $1"; fi
  }
  local umin="${UNET_MIN:-5}" cmin="${CLS_MIN:-1.5}"
  # The time limits leave room for loading, the end-of-run sample grid and the checkpoint; SIGTERM saves first.
  # shellcheck disable=SC2046
  step unet "$(awk -v m="$umin" 'BEGIN {printf "%d", m * 60 + 90}')" "$PY" -m adm.cli.train "${common[@]}" --model unet \
    --batch-size "${BATCH:-256}" $(budget_flags "$umin" "${UNET_STEPS:-}")
  # shellcheck disable=SC2046
  step classifier "$(awk -v m="$cmin" 'BEGIN {printf "%d", m * 60 + 60}')" "$PY" -m adm.cli.train "${common[@]}" --model classifier \
    --batch-size "${CLS_BATCH:-256}" $(budget_flags "$cmin" "${CLS_STEPS:-}")
  step export 120 "$PY" tools/device/slim_run.py export "$run_dir" "$OUT" --part-mib "${PART_MIB:-15}"
  cp -f "$(ls "$run_dir"/samples/unet_step*.png 2>/dev/null | tail -n 1)" "$OUT/unet_samples.png" 2>/dev/null
  local left=$((budget - (SECONDS - t0)))
  if [ "$left" -ge 90 ]; then
    # the TorchScript exporter on torch >= 2.9, as torch_cuda.py asks for it (the toolkit's export assumes it)
    step device_make_pack $((left - 20)) "$PY" -c 'import sys; sys.path.insert(0, "tools/device")
from torch_cuda import legacy_onnx_export; legacy_onnx_export()
from adm.cli.make_pack import main; sys.exit(main(sys.argv[1:]))' --run "$run_dir" --out "$WORK/pack" --force
  else
    STATUS+=("{\"step\": \"device_make_pack\", \"skipped\": \"$left s left\"}")
  fi
  "$PY" - "$OUT" "$run_dir" "$WORK/pack" "$(IFS=,; echo "${STATUS[*]}")" <<'EOF'
import json, sys
from pathlib import Path
out, run, pack, steps = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), json.loads("[" + sys.argv[4] + "]")
res = dict(env=json.loads((out / "env.json").read_text()), steps=steps)
for kind in ("unet", "classifier"):  # the runs' own summaries: the last line on stdout is JSON
    lines = [json.loads(l) for l in (out / "log.txt").read_text().splitlines() if l.startswith('{"model": "' + kind)]
    if lines:
        res[kind] = lines[-1]
if (pack / "manifest.json").is_file():
    m = json.loads((pack / "manifest.json").read_text())
    res["devicePack"] = dict(files={k: m[k]["bytes"] for k in ("unet", "unetFp16", "classifierGrad") if k in m})
if (out / "weights.json").is_file():
    res["weights"] = json.loads((out / "weights.json").read_text())
(out / "train_pack.json").write_text(json.dumps(res, indent=1) + "\n")
(out / "env.json").unlink()
print(json.dumps({k: res.get(k) for k in ("unet", "classifier", "weights")}, indent=1))
EOF
  say "wrote $(ls "$OUT" | tr '\n' ' ')in $OUT"
  [ -f "$OUT/weights.json" ]
}

# --- here: weights -> run -> pack ----------------------------------------------------------------------------
finish() {
  local dir="$1" pack="${PACK_OUT:-runs/train-pack/imagenette64-wide}" run_dir="${RUN_OUT:-runs/train-pack/run}"
  PY="$(find_python)" || { say "no python3 with torch"; exit 3; }
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" tools/device/slim_run.py join "$dir" "$run_dir" || exit 1
  local data="${DATA:-../shared/data/imagenette-64}" extra=()
  [ -d "$data/val" ] && extra+=(--data "$data")  # the classifier's noisy top-1 for the manifest, measured here
  "$PY" -m adm.cli.make_pack --run "$run_dir" --out "$pack" --scale 4 --respacing ddim25 --guidance-mode both --cfg-scale 3 \
    --force "${extra[@]}" || exit 1
  say "pack: $pack; judge it with: npm run eval -- --pack $pack --data $data --modes cond,cfg,both --scales 0,4 --cfg-scales 3 --samples-per-class 20"
}

# --- the dry run: every mode on the CPU, tiny ------------------------------------------------------------------
dry_run() {
  local tmp; tmp="$(mktemp -d /tmp/train-pack-dry.XXXXXX)"
  local out="$tmp/out" fetched="$tmp/fetched"
  export TP_WORK="$tmp/work" TP_PARTS=tmp/device/train-data-dry-run
  PARTS_DIR="$TP_PARTS"
  say "dry run in $tmp"
  # 6 images per class in ~100 KiB parts (several, to exercise the staging), the tiny preset for 2 steps on the CPU
  LIMIT_PER_CLASS=6 DATA_PART_MIB=0.1 prepare > "$tmp/prepare.txt" || return 1
  local k; k=$(ls -d "$PARTS_DIR"/part-* | wc -l)
  [ "$k" -ge 2 ] || { say "dry run: expected several data parts, got $k"; return 1; }
  local saved="$tmp/parts"; mv "$PARTS_DIR" "$saved"
  for j in $(seq 1 $((k - 1))); do  # each call carries one part, as on the device
    mkdir -p "$PARTS_DIR" && cp -r "$saved/part-$j" "$PARTS_DIR/" && bash "$ROOT/tools/device/train_pack.sh" --stage || return 1
    rm -rf "$PARTS_DIR"
  done
  mkdir -p "$PARTS_DIR" && cp -r "$saved/part-$k" "$PARTS_DIR/"
  OUT="$out" DEVICE=cpu THREADS=2 PRESET=tiny BATCH=4 CLS_BATCH=4 UNET_STEPS=2 CLS_STEPS=2 PART_MIB=1 BUDGET_S=100000 \
    bash "$ROOT/tools/device/train_pack.sh" || { say "dry run: the run failed (see $out/log.txt)"; return 1; }
  rm -rf "$PARTS_DIR"
  # what the device tool would bring back: <= 8 plain files of <= 16 MiB, 64 MiB in all, plain names
  local n; n=$(find "$out" -type f | wc -l)
  [ "$n" -le 8 ] || { say "dry run: $n files to return (the tool brings back 8)"; return 1; }
  ! find "$out" -type f -size +16M | grep -q . || { say "dry run: a file over 16 MiB"; return 1; }
  [ "$(du -sb "$out" | cut -f1)" -le $((64 * 1048576)) ] || { say "dry run: over 64 MiB"; return 1; }
  ! ls "$out" | grep -q '[^A-Za-z0-9._-]' || { say "dry run: a file name the tool would not bring back"; return 1; }
  cp -r "$out" "$fetched" && chmod -R a-w "$fetched"  # read-only, as files_at is
  PACK_OUT="$tmp/pack" RUN_OUT="$tmp/run" finish "$fetched" || return 1
  "$PY" -c "import sys; from adm.pack import read_pack; m = read_pack(sys.argv[1]); print('pack ok:', m['name'], m['imageSize'], 'px', m['training'])" "$tmp/pack" || return 1
  chmod -R u+w "$fetched"; rm -rf "$tmp"
  say "dry run passed"
}

case "$MODE" in
  prepare) prepare ;;
  stage) stage_parts; exit 0 ;;
  check|run) run ;;
  finish) finish "$FINISH_DIR" ;;
  dry) dry_run ;;
esac
