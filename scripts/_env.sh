# Shared set-up for scripts/*: a project venv with regimage and its test tools, and the Debian
# packages the registry lab needs. Sourced, not run. Idempotent: a second run installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REGIMAGE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

ensure_debian_packages() {
  local missing=()
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)  # the lab's bcrypt htpasswd file
  command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)  # the lab's forward proxy (tests/lab/proxy.py)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # a real browser for report --html (tests/cli/test_report_html.py)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "scripts: installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The package's init script may start a system-wide registry on :5000 (all interfaces): the lab
  # never uses it, and it has no business listening.
  if command -v service >/dev/null 2>&1 && pgrep -f '/etc/docker/registry/config.yml' >/dev/null 2>&1; then
    service docker-registry stop >/dev/null 2>&1 || pkill -f '/etc/docker/registry/config.yml' || true
  fi
  # Likewise tinyproxy's system-wide one on :8888 (the lab starts its own, on loopback, by pid):
  # only the service's, whose pid file is /run/tinyproxy/tinyproxy.pid.
  if command -v service >/dev/null 2>&1 && [ -s /run/tinyproxy/tinyproxy.pid ] \
     && kill -0 "$(cat /run/tinyproxy/tinyproxy.pid)" 2>/dev/null; then
    service tinyproxy stop >/dev/null 2>&1 || true
  fi
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.regimage-installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] || [ "$ROOT/constraints.txt" -nt "$stamp" ]; then
    # constraints.txt pins every test and dev dependency to the versions CI tested (scripts/lock)
    "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[test,dev]"
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}
