#!/usr/bin/env python3
"""A 1 MiB permessage-deflate echo, timed: `rtx serve`'s /echo beside node's `ws` server
(tests/e2e/ws_peer.js), both in this run, on loopback. The client is node's `ws` with
perMessageDeflate for both, so only the server differs. A B A B: ROUNDS alternating runs of
N round trips each; prints the median round trip of each run and the median of the runs'
medians per server, as JSON lines and a summary.

usage: scripts/bench/ws_deflate_echo.py [BUILD_DIR] [ROUNDS] [N] [MODE]
       defaults: build 4 50 repeat (MODE: repeat or words, below)
"""
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SOURCE, "build")
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
N = int(sys.argv[3]) if len(sys.argv) > 3 else 50
MODE = sys.argv[4] if len(sys.argv) > 4 else "repeat"
RTX = os.path.join(BUILD, "cmd", "rtx")

# One client run: N round trips of a 1 MiB text (a different start each time), the median in
# ms. MODE "words": 20,000 distinct words, costly to deflate (the compression dominates);
# MODE "repeat": one word repeated, cheap to deflate (framing and TCP dominate).
CLIENT = r"""
const WebSocket = require(process.env.NODE_WS || '/usr/share/nodejs/ws');
const [url, count, mode] = process.argv.slice(1);
const ws = new WebSocket(url, { perMessageDeflate: true });
const words = [];
for (let i = 0; i < 20000; i++) words.push('w' + ((i * 2654435761) % 100003).toString(36));
const base = mode === 'repeat' ? 'compressible '.repeat(90000) : words.join(' ');
ws.on('open', async () => {
  const times = [];
  for (let i = 0; i < Number(count); i++) {
    const text = (i + ' ' + base).repeat(8).slice(0, 1 << 20);
    const started = process.hrtime.bigint();
    const reply = new Promise((resolve) => ws.once('message', resolve));
    ws.send(text);
    const data = await reply;
    if (data.length !== text.length) { console.error('bad echo'); process.exit(1); }
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ median_ms: times[times.length >> 1], extensions: Object.keys(ws._extensions) }));
  ws.close(1000);
});
ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
"""


def start_rtx():
    proc = subprocess.Popen([RTX, "serve", "--no-tcp", "--no-mqtt", "--http-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while True:
        line = proc.stdout.readline().decode()
        if line.startswith("ws-echo"):
            return proc, line.split()[1]


def start_node():
    proc = subprocess.Popen(["node", os.path.join(SOURCE, "tests", "e2e", "ws_peer.js")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port = int(proc.stdout.readline())
    return proc, f"ws://127.0.0.1:{port}/echo"


def run(url):
    out = subprocess.run(["node", "-e", CLIENT, url, str(N), MODE], capture_output=True, check=True,
                         timeout=600)
    return json.loads(out.stdout)


def main():
    servers = {"rtx serve": start_rtx(), "node ws": start_node()}
    medians = {name: [] for name in servers}
    try:
        for round_index in range(ROUNDS):
            for name, (_, url) in servers.items():
                result = run(url)
                medians[name].append(result["median_ms"])
                print(json.dumps({"round": round_index, "server": name, "mode": MODE, **result}),
                      flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait()
    for name, values in medians.items():
        print(f"{name}: median of {ROUNDS} run medians {statistics.median(values):.2f} ms "
              f"per 1 MiB compressed round trip (runs: "
              f"{', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
