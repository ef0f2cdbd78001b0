#!/usr/bin/env bash
# Installs rtx's build and test dependencies from Debian 12 packages.
# Idempotent: asks apt only for what is missing, and runs `apt-get update` once, only
# when something is missing. Must run as root (or with sudo available).
set -euo pipefail

build_packages=(
  cmake g++ pkg-config make
  libcli11-dev          # command line
  libfmt-dev            # formatting
  doctest-dev           # unit tests
  libuv1-dev            # the event loop (one per thread)
  libssl-dev            # TLS for raw TCP (OpenSSL memory BIOs on the uv loop)
  libcurl4-openssl-dev  # HTTP stream / SSE / long-poll clients (multi-socket API)
  libwebsockets-dev libwebsockets-evlib-uv  # WebSocket client/server on the uv loop
  libpaho-mqtt-dev libpaho-mqttpp-dev       # MQTT client
  nlohmann-json3-dev    # JSON pointers (rtx poll --cursor) and JSON documents
  libnice-dev           # WebRTC ICE (RFC 8445): the agent of `rtx webrtc`, on a GLib thread
  libusrsctp-dev        # WebRTC data channels: SCTP over DTLS (RFC 8261) in user space
  ccache                # compiler cache (CMake uses it when present): a second build of
                        # the same sources, in another tree or clone, recompiles only changes
)
test_packages=(
  python3   # end-to-end test driver (standard library only)
  python3-yaml  # reads deploy/k8s's manifests in tests/e2e/test_deploy.py (no cluster in CI)
  clang libclang-rt-14-dev  # libFuzzer targets (scripts/fuzz.sh)
  openssl   # makes throwaway certificates for the TLS tests
  curl      # the independent HTTP client of the rtx serve tests (curl -N)
  chromium  # a real browser client (EventSource, WebSocket), driven from python3 over the
            # DevTools protocol (tests/e2e/chromium.py): no node or npm package needed
  nghttp2-server  # nghttpd: an independent HTTP/2 server for the HTTP clients' TLS/h2 tests
  node-ws   # node's `ws` (with Debian's nodejs 18, or the machine's own node): an
            # independent WebSocket server and client for the ws tests
  socat netcat-openbsd  # independent TCP clients and echo peers for `rtx tcp -l` and the
                        # --bridge tests (ncat/websocat users' own tools)
  mosquitto mosquitto-clients  # a real MQTT broker and mosquitto_pub/sub for the mqtt tests
  coturn    # turnserver: a real TURN relay on 127.0.0.1 for rtx webrtc --turn/--relay-only
            # (tests/e2e/test_webrtc_ice.py); not started as a service
  npm       # installs tests/push's pinned web-push and web-push-testing (independent Web Push
            # peers); left out below when the machine's own node already brings npm
)

wanted=("${build_packages[@]}")
if [[ "${1:-}" == "--with-tests" ]]; then
  for pkg in "${test_packages[@]}"; do
    # A node from elsewhere (nodesource) ships its own npm and conflicts with Debian's.
    if [[ "$pkg" == npm ]] && command -v npm >/dev/null; then
      continue
    fi
    wanted+=("$pkg")
  done
fi

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "rtx: installing ${missing[*]}" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
