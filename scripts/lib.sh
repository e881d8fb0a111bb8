# Shared by scripts/start.sh and scripts/test.sh (sourced, not run).

# node_modules up to date with package-lock.json (npm ci on a fresh clone or after a lock change).
ensure_node_modules() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "installing npm packages (npm ci)..." >&2
    # onnxruntime-node's install script would fetch GPU builds from outside the registry; its CPU
    # binary ships inside the package. An environment variable, not .npmrc: npm warns on unknown keys.
    ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  fi
}

# Debian packages the Python toolkit and the browser tests need; installed with apt-get when
# missing (root only). PyTorch comes from Debian: PyPI is not used.
ensure_system_packages() {
  local need=()
  /usr/bin/python3 -c "import torch" 2>/dev/null || need+=(python3-torch)
  /usr/bin/python3 -c "import onnx" 2>/dev/null || need+=(python3-onnx)
  /usr/bin/python3 -c "import numpy" 2>/dev/null || need+=(python3-numpy)
  /usr/bin/python3 -c "import PIL" 2>/dev/null || need+=(python3-pil)
  /usr/bin/python3 -c "import pytest" 2>/dev/null || need+=(python3-pytest)
  /usr/bin/python3 -c "import pyflakes" 2>/dev/null || need+=(python3-pyflakes)
  /usr/bin/python3 -c "import jsonschema" 2>/dev/null || need+=(python3-jsonschema)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "error: missing Debian packages: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    return 2
  fi
  echo "installing Debian packages: ${need[*]}..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
