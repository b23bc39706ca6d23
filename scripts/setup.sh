#!/usr/bin/env bash
# Installs what p11 needs on a Debian/Ubuntu machine, idempotently: system packages (apt, when root or sudo is
# there), a venv in .venv, and p11 itself built with its native parts. Sourced by scripts/demo and scripts/test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${P11_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

# softhsm2: the token every test uses; opensc: pkcs11-tool (cross-checks); libp11-kit-dev: the header oracle;
# openssl: verifies token-signed certificates; libengine-pkcs11-openssl: openssl's pkcs11 engine (p11.pki
# interop, the CLI's device set-up example);
# python3-venv/-dev + gcc: the venv and the native build;
# p11-kit-modules, opensc-pkcs11 and the tpm2 stack (swtpm, tpm2-abrmd, tpm2-pkcs11 …): the interop tests' tokens;
# valgrind: tests/test_batch_inputs.py runs one batch under memcheck.
APT_PACKAGES=(softhsm2 opensc opensc-pkcs11 libp11-kit-dev p11-kit p11-kit-modules openssl libengine-pkcs11-openssl gcc
  python3-venv python3-dev swtpm tpm2-abrmd libtss2-tcti-tabrmd0 libtss2-tcti-swtpm0 libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-tools
  dbus-daemon util-linux valgrind opencryptoki)
# With the docs extra (scripts/docs, and the test command, which builds the docs): python3-doc and
# python-cryptography-doc give the site's links into Python's and cryptography's documentation (their objects.inv,
# read offline); chromium renders the built pages in tests/test_docs.py, as a reader's browser would.
DOCS_APT_PACKAGES=(python3-doc python-cryptography-doc chromium)

missing_apt() {
  local pkg out=() wanted=("${APT_PACKAGES[@]}")
  [[ ",${1:-}," == *,docs,* ]] && wanted+=("${DOCS_APT_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || out+=("$pkg")
  done
  # A Python that is not Debian's (pyenv, a toolchain image) brings its own venv and headers.
  if ! [[ "$(command -v "$PY")" == /usr/bin/* ]]; then
    out=("${out[@]/python3-venv}"); out=("${out[@]/python3-dev}")
  fi
  local p; for p in "${out[@]}"; do [[ -n "$p" ]] && printf '%s\n' "$p"; done
}

install_system_packages() {
  command -v dpkg-query >/dev/null || { echo "setup: not a Debian/Ubuntu system; install SoftHSM2, OpenSC and a C compiler yourself" >&2; return 0; }
  mapfile -t need < <(missing_apt "${1:-}")
  [[ ${#need[@]} -eq 0 ]] && return 0
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "setup: missing system packages: ${need[*]}" >&2
      echo "setup: run as root or with sudo:  sudo apt-get install -y ${need[*]}" >&2
      exit 1
    fi
  fi
  echo "setup: apt-get install ${need[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

make_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup: creating venv $VENV"
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # Build requirements live in the venv so rebuilds are incremental (no build isolation, build dir kept).
  "$VENV/bin/python" -m pip install -q "scikit-build-core>=0.10" "cffi>=1.17" "cython>=3.0.10" ninja cmake
}

install_p11() {
  local extras="${1:-test}"
  echo "setup: building and installing p11[$extras] (native parts: p11._cffi, p11._native)"
  # One build at a time in a tree (parallel shells share build/).
  ( flock 9
    "$VENV/bin/python" -m pip install -q --no-build-isolation "$ROOT[$extras]"
  ) 9>"$ROOT/.install.lock"
}

setup_all() {
  install_system_packages "${1:-test}"
  make_venv
  install_p11 "${1:-test}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  setup_all "${1:-test,bench,dev}"
fi
