#!/usr/bin/env bash
# Proves the README's quick start on a fresh machine: builds a Debian 12 minbase chroot with
# debootstrap (from this machine's own apt source), clones a commit of this repository into
# it, and runs there, as root:
#   1. `bash scripts/demo.sh` (README command 1) on nothing but minbase;
#   2. the set-up half of `bash scripts/test.sh` (install-deps --with-tests, configure with
#      the e2e tests registered) and the tests that depend on what a fresh Debian 12 ships
#      and this machine may not: the browser tests (Debian's chromium, python3 only) and
#      the node tests (node `ws`, npm web-push, web-push-testing and werift on Debian's nodejs 18
#      and npm), and the tests of peers added later (coturn, socat/nc, nghttpd, python3-yaml).
#      The whole suite runs outside the chroot, in scripts/test.sh.
#
# usage: scripts/fresh-check.sh [COMMIT]     (default: HEAD; uncommitted changes are not seen)
# env:   RTX_FRESH_CACHE   where the minbase tarball and downloaded .debs are kept between
#                          runs (default /var/cache/rtx-fresh); the chroot itself is new
#                          each run, and every package is installed afresh in it.
#        RTX_FRESH_TESTS   ctest -R regex of step 2 ('' skips step 2)
#        RTX_FRESH_KEEP=1  leave the chroot in place for a look after a failure
#        RTX_FRESH_CCACHE=0  compile without the kept compiler cache (see below)
#
# The compiler cache of the chroot's builds is kept in $cache/ccache between runs, so a run
# recompiles only what changed since the last one (the demo's compile was most of this check's
# time). ccache (installed by install-deps like any build package) hashes each source with
# every header it includes, so a header the chroot lacks still fails the build: the cache
# changes how long the check takes, not what it proves.
# Needs root (debootstrap, chroot, mounts). Installs debootstrap if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
commit=$(git rev-parse "${1:-HEAD}")
cache=${RTX_FRESH_CACHE:-/var/cache/rtx-fresh}
tests=${RTX_FRESH_TESTS-e2e_(browser|serve_ws|ws_client|push|webrtc|tcp_listen|curl_flags|deploy)}
suite=bookworm

if [[ $(id -u) -ne 0 ]]; then
  echo "rtx: error: fresh-check: needs root (debootstrap, chroot, mount)" >&2
  exit 2
fi
if [[ -z "${1:-}" && -n "$(git status --porcelain --untracked-files=no)" ]]; then
  echo "fresh-check: note: uncommitted changes are not part of the check (it clones $commit)" >&2
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi

# The machine's own Debian mirror: the first deb.debian.org-style URI of the main suite.
mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null |
  grep -v -e security -e nodesource -e google | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian/}

mkdir -p "$cache/archives"
base="$cache/$suite-minbase.tar"
if [[ ! -s "$base" ]]; then
  echo "== fresh-check: debootstrap --variant=minbase $suite from $mirror (cached in $base)"
  staging=$(mktemp -d /var/tmp/rtx-debootstrap.XXXXXX)
  debootstrap --variant=minbase --cache-dir="$cache/archives" "$suite" "$staging" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || {
    tail -n 30 "$cache/debootstrap.log" >&2
    rm -rf "$staging"
    exit 1
  }
  tar -C "$staging" -cf "$base.partial" .
  mv "$base.partial" "$base"
  rm -rf "$staging"
fi

root=$(mktemp -d /var/tmp/rtx-fresh.XXXXXX)
mounted=()
cleanup() {
  # Stop anything the check left running inside the chroot, then unmount, then remove.
  for proc_root in /proc/[0-9]*/root; do
    if [[ "$(readlink "$proc_root" 2>/dev/null)" == "$root" ]]; then
      pid=${proc_root#/proc/}
      kill -9 "${pid%/root}" 2>/dev/null || true
    fi
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -l "${mounted[$i]}" 2>/dev/null || true
  done
  if [[ "${RTX_FRESH_KEEP:-0}" == 1 ]]; then
    echo "fresh-check: chroot kept in $root" >&2
  else
    rm -rf "$root"
  fi
}
trap cleanup EXIT

tar -C "$root" -xf "$base"
# What a minbase chroot lacks: /etc/hosts (localhost must resolve for the tests), a resolver
# for apt, and the machine's apt sources (debootstrap wrote only the main suite).
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The machine's trust anchors, for npm only (npm ci of tests/push and tests/webrtc): where the
# registry is reached through a TLS-inspecting egress proxy, its CA is in the host's bundle.
# Like resolv.conf this is the machine's network path, not a package; apt uses plain http.
host_ca=/etc/ssl/certs/ca-certificates.crt
if [[ -s "$host_ca" ]]; then
  cp "$host_ca" "$root/etc/rtx-host-ca.crt"
fi
# dpkg without fsync after each unpacked file, as Debian's own container images do: the chroot
# is thrown away after the run, and the install of ~700 packages is most of the check's I/O.
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/rtx-fresh-unsafe-io"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian/}/debian-security $suite-security main
EOF
[[ "$mirror" == */debian/ ]] || sed -i '$d' "$root/etc/apt/sources.list"

mount_in() { # mount_in TYPE_OR_BIND SOURCE TARGET
  mkdir -p "$root$3"
  if [[ "$1" == bind ]]; then mount --bind "$2" "$root$3"; else mount -t "$1" "$2" "$root$3"; fi
  mounted+=("$root$3")
}
mount_in proc proc /proc
mount_in sysfs sysfs /sys
mount_in bind /dev /dev
mount_in devpts devpts /dev/pts
mount_in tmpfs tmpfs /dev/shm # chromium needs a writable /dev/shm
# Downloaded .debs are kept between runs (installing them is still done afresh each time).
mount_in bind "$cache/archives" /var/cache/apt/archives
ccache_env=()
if [[ "${RTX_FRESH_CCACHE:-1}" != 0 ]]; then
  mkdir -p "$cache/ccache"
  mount_in bind "$cache/ccache" /var/cache/rtx-ccache
  ccache_env=(CCACHE_DIR=/var/cache/rtx-ccache CCACHE_BASEDIR=/root/rtx)
fi

git clone -q --no-local "$repo" "$root/root/rtx"
git -C "$root/root/rtx" checkout -q "$commit"

in_chroot() {
  local ca=()
  if [[ -s "$root/etc/rtx-host-ca.crt" ]]; then
    ca=(NPM_CONFIG_CAFILE=/etc/rtx-host-ca.crt)
  fi
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb "${ca[@]}" "${ccache_env[@]}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/rtx && $1"
}

started=$SECONDS
echo "== fresh-check: README command 1 in a fresh $suite minbase: bash scripts/demo.sh"
in_chroot 'bash scripts/demo.sh'
echo "== fresh-check: demo passed ($((SECONDS - started)) s)"

if [[ -n "$tests" ]]; then
  echo "== fresh-check: test set-up on the same machine, then ctest -R '$tests'"
  in_chroot "bash scripts/install-deps.sh --with-tests && node --version && \
    (cd tests/push && npm ci --no-audit --no-fund --loglevel=error) && \
    (cd tests/webrtc && npm ci --no-audit --no-fund --loglevel=error) && \
    cmake -S . -B build -DRTX_BUILD_TESTS=ON >/dev/null && \
    cmake --build build -j $(nproc) --target rtx && \
    RTX_REQUIRE_BROWSER=1 RTX_REQUIRE_TURN=1 WERIFT_DIR=\$PWD/tests/webrtc \
      ctest --test-dir build --output-on-failure -j 4 -R '$tests'"
fi
echo "== fresh-check: passed in $((SECONDS - started)) s (commit $commit)"
