#pragma once

#include "bench/checks.hpp"
#include "bench/foreign.hpp"
#include "bench/message_template.hpp"
#include "bench/scheduler.hpp"
#include "bench/shard.hpp"
#include "bench/stages.hpp"
#include "core/duration.hpp"
#include "core/url.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::bench {

/// The protocols `rtx bench` drives, each through the transport its client subcommand uses.
enum class Protocol {
    tcp,    ///< Echo round trip over TcpConnection (`rtx tcp`).
    sse,    ///< Fan-out: HttpStreamConnection reading text/event-stream (`rtx sse`).
    stream, ///< Fan-out: HttpStreamConnection reading one message per line (`rtx stream`).
    poll,   ///< Fan-out: PollConnection, the long-polling loop (`rtx poll`).
    ws,     ///< Echo on /echo, or fan-out on /ws/{topic}: WsClient's connections (`rtx ws`).
    /// Fan-out through a broker: lib/proto/mqtt_codec over TcpConnection on the worker's
    /// loop (not Paho, whose async client runs its own threads shared by every client).
    mqtt,
};

/// "tcp", "sse", ...
std::string_view protocol_name(Protocol protocol);
/// True for the protocols that only fan out (sse, stream, poll, mqtt); ws does both.
bool is_fanout(Protocol protocol);

/// The default ramp (no --connect-rate): connection attempts in flight at most. On this
/// project's 2-core machine, 10,000 ws connections to the embedded server opened as fast
/// with 32 or 128 in flight as with 1,024 (~2,000-2,800/s), with connect times of tens of
/// milliseconds instead of hundreds; all at once, most timed out (docs/benchmarks.md).
/// Over a 100 ms round trip, 128 in flight still open several hundred per second.
inline constexpr std::size_t k_default_connect_window = 128;

/// Everything one run needs, resolved from the command line: what to connect to, how many,
/// how fast, for how long. Read-only once the run starts (shared by every worker thread).
struct Plan {
    Protocol protocol = Protocol::tcp;
    /// Echo (send, wait for the same bytes back) or fan-out (publishers -> server ->
    /// subscribers); ws takes either (--pattern), the others have one.
    bool fanout = false;
    /// mqtt: the QoS of every PUBLISH and SUBSCRIBE (0, 1 or 2).
    int qos = 0;
    /// tcp: tcp://HOST:PORT; ws echo: ws://HOST:PORT/echo; fan-out: the server's base
    /// http://HOST:PORT (ws: ws://HOST:PORT); mqtt: tcp://HOST:PORT of the broker.
    core::Url target;
    /// Several servers (`rtx bench ws URL1 URL2 ...`): connection and publisher i go to
    /// targets[i % size], round robin; empty: every one goes to `target` (targets[0]).
    std::vector<core::Url> targets;
    /// This process's part of the test (--shard I/N): the counts below stay the whole
    /// test's; the workers run only the connections and publishers in this shard's ranges.
    Shard shard;
    /// --start-at: the wall-clock instant the ramp begins (every shard alike); the epoch's
    /// default (1970): at once.
    std::chrono::system_clock::time_point start_at{};
    /// Echo: connections; fan-out: subscribers.
    std::size_t connections = 10;
    /// Fan-out: publishers, each with its own sequence, publishing with HTTP POST.
    std::size_t publishers = 1;
    /// Fan-out: subscribers and publishers are spread over this many topics (i % topics).
    std::size_t topics = 1;
    std::string topic = "bench"; ///< Topic name, or prefix ("bench-0", ...) with topics > 1.
    /// mqtt: when set, subscribers take `$share/{share_group}/{topic}`, one shared
    /// subscription (MQTT 5 section 4.8.2): each message is delivered once, to one of them.
    std::string share_group;
    /// The ramp's pace: new connections per second in total (a fixed rate); 0: not paced
    /// by a rate (see connect_window).
    double connect_rate = 0;
    /// With connect_rate 0: first attempts in flight at most, over every worker, each
    /// started when an earlier one settles, so the ramp goes as fast as the server
    /// completes handshakes and never floods its listen backlog; 0: all at once.
    std::size_t connect_window = k_default_connect_window;
    /// How long to measure, counted from the end of the connect ramp; 0 with messages > 0:
    /// until the messages are done.
    core::Duration duration{std::chrono::seconds(10)};
    std::uint64_t messages = 0; ///< Messages to send in total (echo) or publish (fan-out).
    std::size_t size = 64;      ///< Payload bytes per message (the stamp included).
    std::string payload_text;   ///< Fills the payload after the stamp; empty: 'x'.
    unsigned threads = 1;       ///< Worker threads, each with its own loop.
    bool open_model = false;    ///< Fixed rate (open) instead of send-on-reply (closed).
    double rate = 0;            ///< Open model: messages/s over all senders.
    Arrival arrival = Arrival::uniform;
    std::vector<std::string> source_ips; ///< Local addresses, used in turn per connection.
    core::Duration connect_timeout{std::chrono::seconds(10)};
    /// After the last send: how long to wait for outstanding replies or deliveries.
    core::Duration drain{std::chrono::seconds(2)};
    /// After a connection dropped during the run: the wait before it reconnects.
    core::Duration reconnect_delay{std::chrono::seconds(1)};
    std::uint32_t run_id = 0; ///< Random; stamps of other runs (server history) are ignored.
    /// A server other than rtx serve: subscribe-only, headers, auth, TLS, where the
    /// messages' times are, where to publish (lib/bench/foreign.hpp).
    ForeignOptions foreign;
    /// --check: every received message (reply or delivery) is checked against these.
    std::vector<Check> checks;
    /// Echo: the user's messages (--message) and the reply that ends a round trip
    /// (--expect) instead of rtx's stamped payload coming back.
    EchoMessages echo_messages;
    /// --stages: connections (echo) or subscribers (fan-out) up and down over time, from
    /// the start of the run (no separate ramp); `connections` is their peak.
    Stages connection_stages;
    /// --rate-stages: the open model's rate over time; `rate` is its peak, and each sender's
    /// schedule is thinned to the stage's share of it.
    Stages rate_stages;
    /// Time zero of the stamps: every send time is nanoseconds since this.
    std::chrono::steady_clock::time_point epoch;

    /// The server connection or publisher `index` talks to.
    const core::Url& target_for(std::size_t index) const {
        return targets.empty() ? target : targets[index % targets.size()];
    }
    /// Global indices of the connections (echo) or subscribers (fan-out) this shard runs.
    IndexRange connection_range() const { return shard_range(connections, shard); }
    /// Global indices of the publishers this shard runs (fan-out).
    IndexRange publisher_range() const { return shard_range(publishers, shard); }
    /// Senders this shard runs: its echo connections or its publishers.
    std::size_t local_senders() const {
        return (fanout ? publisher_range() : connection_range()).size();
    }
    /// The topic of subscriber or publisher `index`.
    std::string topic_name(std::size_t index) const;
    /// The filter subscriber `index` subscribes to: its topic, or the shared subscription.
    std::string subscription_filter(std::size_t index) const;
    /// Subscribers on `topic_index`.
    std::size_t subscribers_on(std::size_t topic_index) const;
    /// Deliveries of each message published to `topic_index`: every subscriber, or one
    /// with a shared subscription.
    std::size_t deliveries_per_message(std::size_t topic_index) const;
    /// The senders end the run when they are done: --messages, or --publish-cmd's end.
    bool senders_end() const { return messages > 0 || !foreign.publish_cmd.empty(); }
    /// Senders: echo connections or fan-out publishers.
    std::size_t senders() const { return fanout ? publishers : connections; }
    /// Messages sender `index` sends in total (messages split evenly); 0: no limit.
    std::uint64_t quota(std::size_t index) const;
    /// Steady-clock ns since the epoch.
    std::uint64_t now_ns() const;
};

} // namespace rtx::bench
