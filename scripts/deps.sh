#!/usr/bin/env bash
# Installs the Debian packages tiny-transformer needs, when they are missing.
# Usage: scripts/deps.sh [build|test|demo|fuzz|browser|torch]...   (default: build)
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

build_pkgs=(gcc make pkg-config libopenblas-dev libcjson-dev libedit-dev libmd-dev libmicrohttpd-dev)
# curl, node and npm: the real clients of tt serve's tests (tests/test_serve.c)
test_pkgs=(libcmocka-dev openmpi-bin libopenmpi-dev g++ curl nodejs npm)
demo_pkgs=(gnuplot-nox fonts-dejavu-core)
browser_pkgs=(chromium)
fuzz_pkgs=(clang libclang-rt-14-dev libfuzzer-14-dev)
torch_pkgs=(python3-torch)
valgrind_pkgs=(valgrind)

want=()
[ $# -eq 0 ] && set -- build
for group in "$@"; do
  case "$group" in
    build) want+=("${build_pkgs[@]}") ;;
    test) want+=("${build_pkgs[@]}" "${test_pkgs[@]}" "${demo_pkgs[@]}") ;;
    demo) want+=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
    browser) want+=("${browser_pkgs[@]}") ;;
    fuzz) want+=("${fuzz_pkgs[@]}") ;;
    valgrind) want+=("${valgrind_pkgs[@]}") ;;
    torch) want+=("${torch_pkgs[@]}") ;;
    *) echo "deps.sh: unknown group '$group' (build, test, demo, browser, fuzz, valgrind, torch)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  # NodeSource's nodejs package carries npm itself (and conflicts with Debian's)
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    case " ${missing[*]:-} " in *" $p "*) ;; *) missing+=("$p") ;; esac
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "deps.sh: run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
$cmd -qq >&2
