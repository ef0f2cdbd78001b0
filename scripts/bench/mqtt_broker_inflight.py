#!/usr/bin/env python3
"""How many QoS 2 messages a broker keeps in flight to one slow subscriber (issue 19's
`sub live QoS 2` pathology).

A raw subscriber (tests/e2e/mqttraw.py) subscribes with QoS 2 and acknowledges nothing
while mosquitto_pub publishes M messages at QoS 2; then it completes the first message
(PUBREC, PUBREL, PUBCOMP), K times, counting the new PUBLISH packets each completion
releases. A broker that keeps its in-flight window (mosquitto's max_inflight_messages,
20 by default; or the v5 Receive Maximum) sends one new message per completion. Debian 12's
mosquitto 2.0.11 sends a window's worth each time (upstream #2306, fixed in 2.0.13), so the
window grows without bound while the broker holds a queue for the subscriber, and every
message of that queue ends in the subscriber's list of unreleased QoS 2 ids. Paho C 1.3.12
walks that list for every PUBLISH it receives (MQTTProtocol_handlePublishes: the duplicate
check, ListFindItem over client->inboundMsgs), so its cost per message grows with the list.

usage: scripts/bench/mqtt_broker_inflight.py [--port PORT] [--messages M] [--completions K]
                                             [--receive-maximum N]
       without --port, a mosquitto is started on a free port (default settings).
"""
import argparse
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "e2e"))
import mqttraw  # noqa: E402
from mqtt_client_rate import start_broker  # noqa: E402

PUBLISH, PUBREL = 3, 6


def drain(client, timeout=0.5):
    """The packet ids of the PUBLISH packets that arrive within timeout of each other, and
    the PUBREL ids."""
    publishes, pubrels = [], []
    while True:
        try:
            packet = client.read_packet(timeout)
        except TimeoutError:
            return publishes, pubrels
        if packet is None:
            sys.exit("mqtt_broker_inflight.py: the broker closed the connection")
        first, body = packet
        if first >> 4 == PUBLISH:
            topic_length = struct.unpack(">H", body[:2])[0]
            publishes.append(struct.unpack(">H", body[2 + topic_length:4 + topic_length])[0])
        elif first >> 4 == PUBREL:
            pubrels.append(struct.unpack(">H", body[:2])[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--completions", type=int, default=5)
    parser.add_argument("--receive-maximum", type=int,
                        help="MQTT 5 with this Receive Maximum (default: MQTT 3.1.1)")
    args = parser.parse_args()
    broker = None
    port = args.port
    if port is None:
        broker, port, conf = start_broker()
    version = 5 if args.receive_maximum else 4
    try:
        with mqttraw.Client(port) as sub:
            props = mqttraw.prop_u16(0x21, args.receive_maximum) if version == 5 else b""
            sub.connect(client_id="inflight-probe", version=version, props=props)
            sub.send(mqttraw.subscribe("inflight/probe", qos=2, version=version))
            sub.read_packet()  # SUBACK
            subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "inflight/probe", "-q", "2",
                            "-l", "-V", "5" if version == 5 else "311"],
                           input=b"".join(b"%d\n" % i for i in range(args.messages)),
                           check=True)
            unreleased, _ = drain(sub)
            print(f"MQTT {'5' if version == 5 else '3.1.1'}: {len(unreleased)} in flight "
                  f"before any acknowledgement")
            for _ in range(args.completions):
                if not unreleased:
                    break
                packet_id = unreleased.pop(0)
                sub.send(mqttraw.packet(0x50, struct.pack(">H", packet_id)))  # PUBREC
                publishes, pubrels = drain(sub)
                for released in pubrels:
                    sub.send(mqttraw.packet(0x70, struct.pack(">H", released)))  # PUBCOMP
                more, _ = drain(sub)
                unreleased += publishes + more
                print(f"  message {packet_id} completed: {len(publishes) + len(more)} new "
                      f"PUBLISH, {len(unreleased)} in flight")
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait()
            os.unlink(conf)


if __name__ == "__main__":
    main()
