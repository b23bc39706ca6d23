#!/usr/bin/env bash
# Installs what p11 needs on a Debian/Ubuntu machine, idempotently: system packages (apt, when root or sudo is
# there), a venv in .venv, and p11 itself built with its native parts. Sourced by scripts/demo and scripts/test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${P11_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

# What the main job (scripts/demo: examples/demo.py, python -m benchmarks) uses: softhsm2, the token; opensc:
# pkcs11-tool, which makes the benchmark token's keys; python3-venv/-dev + gcc: the venv and the native build (and
# the benchmark's C floor).
DEMO_PACKAGES=(softhsm2 opensc gcc python3-venv python3-dev)
# What the test command adds: libp11-kit-dev, the header oracle; openssl + libengine-pkcs11-openssl: verifying
# token-signed certificates, OpenSSL's pkcs11 engine (p11.pki interop, the CLI's device set-up); valgrind:
# tests/test_batch_inputs.py runs one batch under memcheck; p11-kit, p11-kit-modules, opensc-pkcs11, util-linux
# and the tpm2 stack and openCryptoki: the interop tests' tokens; iproute2 (ip netns, veth) and socat (TCP to each
# HSM host's p11-kit server): the network tests' lab (benchmarks/netlab.py), which also uses p11-kit below.
TEST_PACKAGES=(libp11-kit-dev openssl libengine-pkcs11-openssl valgrind iproute2 socat)
INTEROP_PACKAGES=(p11-kit p11-kit-modules opensc-pkcs11 util-linux dbus-daemon swtpm tpm2-abrmd libtss2-tcti-tabrmd0
  libtss2-tcti-swtpm0 libtpm2-pkcs11-1 libtpm2-pkcs11-tools tpm2-tools opencryptoki)
# What setup installs: everything the tests need, unless the caller narrows it (scripts/demo: DEMO_PACKAGES only).
APT_PACKAGES=("${DEMO_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${INTEROP_PACKAGES[@]}")

# p11-kit registrations (name:package) that interop packages drop into /usr/share/p11-kit/modules. Registered,
# a module is loaded by every program that loads p11-kit's registered modules: p11-kit's proxy (OpenSSL's pkcs11
# engine by default), GnuTLS, NSS. Without a TPM, tpm2_pkcs11 then prints a dozen TCTI errors into each of them.
# The interop tests load these modules by path in processes of their own; nothing else should load them.
P11KIT_INTEROP_MODULES=(tpm2_pkcs11:libtpm2-pkcs11-1)
P11KIT_PACKAGE_DIR=/usr/share/p11-kit/modules
P11KIT_ADMIN_DIR=/etc/pkcs11/modules
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

as_root() {
  # Runs "$@" as root (directly, or by sudo without a password); fails when neither is possible.
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1
  fi
}

tpm_present() { [[ -e /dev/tpmrm0 || -e /dev/tpm0 ]]; }

keep_interop_modules_private() {
  # Neutralises the p11-kit registration of an interop-only module (P11KIT_INTEROP_MODULES) with a file of the same
  # name in p11-kit's administrator directory, which wins over the package's, whose blank "module:" p11-kit skips.
  # Done when this run installed the package, or when the machine has no TPM (the module can only print errors);
  # never over a file already there (the administrator's, or ours from an earlier run). Arguments: the packages
  # this run installed.
  local installed=" $* " entry name package override
  for entry in "${P11KIT_INTEROP_MODULES[@]}"; do
    name="${entry%%:*}"; package="${entry#*:}"
    [[ -f "$P11KIT_PACKAGE_DIR/$name.module" ]] || continue
    override="$P11KIT_ADMIN_DIR/$name.module"
    [[ -e "$override" ]] && continue
    [[ "$installed" == *" $package "* ]] || ! tpm_present || continue
    if ! as_root sh -c 'mkdir -p "$1" && printf "%s\n" "$2" > "$3.tmp" && mv "$3.tmp" "$3"' sh "$P11KIT_ADMIN_DIR" \
        "# Written by p11's scripts/setup.sh: $package is installed for p11's interop tests, which load it by path.
# An empty module: keeps p11-kit (its proxy, OpenSSL's pkcs11 engine, GnuTLS, NSS) from loading it. To load it
# again, write your own file here (e.g. 'module: libtpm2_pkcs11.so'): setup leaves an existing file alone.
module:" "$override"; then
      echo "setup: p11-kit loads $name (from $package) into every program that uses its registered modules;" \
           "to stop it, as root: printf 'module:\\n' > $override" >&2
      continue
    fi
    echo "setup: kept $name (from $package, for the interop tests) out of p11-kit's registered modules: $override"
  done
}

install_system_packages() {
  command -v dpkg-query >/dev/null || { echo "setup: not a Debian/Ubuntu system; install SoftHSM2, OpenSC and a C compiler yourself" >&2; return 0; }
  mapfile -t need < <(missing_apt "${1:-}")
  if [[ ${#need[@]} -gt 0 ]]; then
    if ! as_root true; then
      echo "setup: missing system packages: ${need[*]}" >&2
      echo "setup: run as root or with sudo:  sudo apt-get install -y ${need[*]}" >&2
      exit 1
    fi
    echo "setup: apt-get install ${need[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if [[ " ${APT_PACKAGES[*]} " == *" libtpm2-pkcs11-1 "* ]]; then
    keep_interop_modules_private "${need[@]}"
  fi
  if [[ " ${need[*]} " == *" opencryptoki "* && -d /run/systemd/system ]]; then
    # apt starts openCryptoki's daemon under systemd; the interop tests start their own, only while they run.
    as_root systemctl disable --now pkcsslotd.service >/dev/null 2>&1 || true
  fi
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
