#!/usr/bin/env bash
# npm start: install what the app needs, build it, serve it (with the COOP/COEP headers that
# onnxruntime-web's wasm threads need) on PORT (default 4173).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_node_modules
PORT="${PORT:-4173}"
HOST="${HOST:-127.0.0.1}"
echo "building the app..." >&2
npx vite build --logLevel warn
echo "serving on http://$HOST:$PORT/ (Ctrl+C stops; PORT=... and HOST=... change it)" >&2
exec npx vite preview --host "$HOST" --port "$PORT" --strictPort
