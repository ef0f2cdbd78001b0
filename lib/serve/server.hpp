#pragma once

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/access.hpp"
#include "serve/fault/fault_spec.hpp"
#include "serve/http/custom_route.hpp"
#include "serve/http/push_fault.hpp"
#include "serve/hub.hpp"
#include "serve/listener.hpp"
#include "serve/mqtt/acl.hpp"
#include "serve/replay_player.hpp"
#include "serve/socket_address.hpp"
#include "serve/tls_config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtx::serve {

namespace http {
class HttpListener;
class LwsContext;
} // namespace http
namespace webrtc {
class PeerService;
} // namespace webrtc
namespace fault {
class Injector;
} // namespace fault

/// Documented default ports (man/rtx-serve.1); `rtx serve` with no flags uses them all.
inline constexpr std::uint16_t k_default_tcp_port = 7070;
inline constexpr std::uint16_t k_default_http_port = 8080;
inline constexpr std::uint16_t k_default_mqtt_port = 1883;

/// Which listeners to start, where, and the limits of the HTTP endpoints and the hub.
struct ServeOptions {
    std::string bind = "127.0.0.1";
    /// nullopt: this listener is off; 0: any free port.
    std::optional<std::uint16_t> tcp_port = k_default_tcp_port;
    /// The HTTP endpoints (SSE, streaming, long-poll, publish, pages) on one port.
    std::optional<std::uint16_t> http_port = k_default_http_port;
    /// The MQTT 3.1.1/5 broker.
    std::optional<std::uint16_t> mqtt_port = k_default_mqtt_port;
    /// When set, MQTT clients must CONNECT with this user name and mqtt_password.
    std::optional<std::string> mqtt_user;
    std::string mqtt_password;
    /// The largest MQTT packet a client may send (else it is disconnected, reason 0x95).
    std::size_t mqtt_max_packet = 1024 * 1024;
    /// QoS 1/2 messages kept per MQTT session for a client that is away or slow.
    std::size_t mqtt_max_queued = 10000;
    /// The broker's Receive Maximum, announced to MQTT 5 clients and enforced (0x93).
    std::uint16_t mqtt_receive_max = 100;
    /// When set, the Server Keep Alive (seconds) MQTT 5 clients are given in CONNACK.
    std::optional<std::uint16_t> mqtt_keep_alive;
    /// Per-topic read/write rules for MQTT clients (--mqtt-acl); null: none.
    std::shared_ptr<const mqtt::Acl> mqtt_acl;
    /// Publish "1", "2", ... on topic `tick` this often; zero: no ticks.
    core::Duration tick{0};
    /// A comment on an SSE stream that carried nothing for this long.
    core::Duration heartbeat = std::chrono::seconds(15);
    /// The longest a long-poll is held before it is answered 204.
    core::Duration poll_hold = std::chrono::seconds(25);
    /// Request headers must arrive within this time (else 408).
    core::Duration header_timeout = std::chrono::seconds(10);
    /// The largest POST /publish body (else 413).
    std::size_t max_body = 1024 * 1024;
    /// What every push to the mock push service gets instead of delivery (status 0: none).
    http::PushFault push_fault;
    /// Live subscriptions over every topic and protocol (beyond it: 503).
    std::size_t max_subscribers = 10000;
    /// Messages kept per topic for replay (SSE Last-Event-ID, poll cursors, ?since=).
    std::size_t history = 1000;
    /// The WebSocket endpoints (/echo, /ws/{topic}) on the HTTP port.
    /// The largest message a WebSocket client may send (else close 1009).
    std::size_t ws_max_message = 64 * 1024 * 1024;
    /// Open WebSocket connections (beyond it: 503).
    std::size_t ws_max_connections = 10000;
    /// Allowed Origin header values for a WebSocket upgrade; empty: any.
    std::vector<std::string> ws_origins;
    /// Ping a WebSocket client quiet this long, drop it when still quiet after as long;
    /// zero: never.
    core::Duration ws_ping_interval = std::chrono::seconds(30);
    /// Offer permessage-deflate.
    bool ws_compression = true;
    /// Peers in one /signal/{room} at most (beyond it: 409).
    std::size_t signal_room_size = 2;
    /// TLS on every listener's port instead of plain text (https, wss, mqtts, tls).
    TlsServeOptions tls;
    /// --auth and --cors for the HTTP and WebSocket endpoints.
    AccessOptions access;
    /// rtx serve's own WebRTC peers (/webrtc/{target}, /whip/{target}) at once (beyond: 503).
    std::size_t webrtc_max_peers = 100;
    /// --fault: what each protocol's connections suffer, and the texts it was parsed from.
    fault::FaultPlan faults;
    std::vector<std::string> fault_specs;
    /// --fault-seed: the seed of every connection's fault generator.
    std::uint64_t fault_seed = 0;
    /// --replay: recordings published on their topics at their spacing from the start.
    std::vector<std::shared_ptr<const ReplayFeed>> replay;
    ReplayPace replay_pace; ///< --replay-speed, --replay-loop
    /// --route: endpoint kinds on paths of the user's choosing (HTTP port).
    std::vector<http::CustomRoute> routes;
};

/// The embedded server: one hub shared by every listener, and the listeners, on one loop.
/// Loop thread only.
class Server {
public:
    explicit Server(core::Loop& loop);
    /// Must not run inside a loop callback: the HTTP listener's lws context finishes
    /// closing on the loop (see http::LwsContext).
    ~Server();

    /// Creates the hub and binds every listener the options ask for. On error nothing is
    /// left listening.
    core::Result<bool> start(const ServeOptions& options);
    /// The started listeners, for printing endpoints.
    const std::vector<std::unique_ptr<Listener>>& listeners() const { return m_listeners; }
    /// The hub every listener publishes to and subscribes from; null before start().
    Hub* hub() { return m_hub.get(); }
    /// Stops the tick, stops accepting and closes every connection gracefully.
    void shutdown();

private:
    core::Result<bool> start_http(const ServeOptions& options);
    void start_replays(const ServeOptions& options);
    /// Each --replay topic's records, from the first file that has it (POST routes).
    static std::map<std::string, std::shared_ptr<const std::vector<ReplayRecord>>, std::less<>>
    recordings(const ServeOptions& options);
    void stop();

    core::Loop& m_loop;
    // Destruction order matters: the lws context calls back into the HTTP listener while it
    // closes, and the listeners' subscriptions point into the hub (see ~Server).
    std::unique_ptr<Hub> m_hub;
    std::unique_ptr<TlsServerContext> m_tls; ///< For the MQTT and TCP echo listeners.
    /// --fault and GET /stats; after the listeners, whose connections use it.
    std::unique_ptr<fault::Injector> m_faults;
    /// After the hub (its peers' subscriptions point into it), before the listeners that
    /// signal with it.
    std::unique_ptr<webrtc::PeerService> m_peers;
    std::vector<std::unique_ptr<Listener>> m_listeners;
    std::unique_ptr<http::LwsContext> m_lws;
    http::HttpListener* m_http = nullptr; ///< In m_listeners when the HTTP port is on.
    std::unique_ptr<core::Timer> m_tick;
    std::vector<std::unique_ptr<ReplayPlayer>> m_replays;
    std::uint64_t m_ticks = 0;
};

} // namespace rtx::serve
