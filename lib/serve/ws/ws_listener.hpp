#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/http/lws_context.hpp"
#include "serve/hub.hpp"
#include "serve/listener.hpp"

#include <libwebsockets.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rtx::serve::ws {

/// What the WebSocket endpoints allow (the --ws-* options of `rtx serve`).
struct WsListenerOptions {
    /// The largest message received, after reassembly and inflation (else close 1009).
    std::size_t max_message = 64 * 1024 * 1024;
    /// Open WebSocket connections over every WebSocket endpoint (beyond it: 503).
    std::size_t max_connections = 10000;
    /// Allowed Origin header values; empty: any origin (and requests without one).
    std::vector<std::string> allowed_origins;
    /// A connection that sent nothing for this long is pinged, and dropped when it stays
    /// silent for as long again; zero: no pings.
    core::Duration ping_interval = std::chrono::seconds(30);
    /// permessage-deflate is offered (LwsSettings::websocket_compression).
    bool compression = true;
    /// Peers in one /signal/{room} at most (beyond it: 409).
    std::size_t signal_room_size = 2;
};

/// What a WebSocket endpoint does with the messages it receives.
enum class WsEndpoint {
    echo, ///< /echo: every message goes back with its opcode.
    /// /ws/{topic}: published to the topic; the topic's messages are sent. Also
    /// /signal/{room}: WebRTC signalling, each JSON message relayed to the room's other peers.
    pubsub,
};

/// Counts the connections of every WebSocket endpoint against one max_connections.
struct WsConnectionCount {
    std::size_t open = 0;
};

/// One WebSocket endpoint of `rtx serve` (man/rtx-serve.1) on the shared lws context and
/// HTTP port, mounted at "/echo" or "/ws/". Receives whole messages (fragments reassembled,
/// bounded by max_message) and sends queued messages in chunks from LWS_CALLBACK_
/// SERVER_WRITEABLE, so a large message never blocks the loop. Loop thread only.
class WsListener final : public Listener {
public:
    /// Registers its protocol and mount with `lws` (before LwsContext::listen). `lws`, `hub`
    /// and `count` must outlive the listener; `lws` must be destroyed before it.
    WsListener(core::Loop& loop, http::LwsContext& lws, Hub& hub, WsEndpoint endpoint,
               WsListenerOptions options, std::shared_ptr<WsConnectionCount> count);
    ~WsListener() override;

    std::string name() const override;
    std::string url() const override;
    /// Every connection is closed with 1001 "going away"; new upgrades get 503.
    void shutdown() override;
    std::size_t connections() const override { return m_connections.size(); }

private:
    struct Connection;
    static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                        std::size_t len);
    int on_callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len);
    int on_confirm_upgrade(lws* wsi);
    int on_receive(Connection& connection, const char* data, std::size_t len);
    int on_message(Connection& connection);
    void enqueue(Connection& connection, std::shared_ptr<const HubMessage> message);
    /// /echo: writes `message` at once when nothing waits to go out. 1: written; 0: not
    /// now (queue it); -1: the write failed.
    int echo_now(Connection& connection, const HubMessage& message);
    int on_writeable(Connection& connection);
    int on_peer_close(Connection& connection, const unsigned char* payload, std::size_t len);
    /// Writes every queued message now (the peer's close came; lws answers it next).
    void flush_before_close(Connection& connection);
    void on_ping_timer();
    void drain_soon(Connection& connection);
    void forget(lws* wsi);
    /// /signal/{room}: a text message for one peer; every peer of the room but `from`.
    void signal_to(Connection& connection, std::string text);
    void signal_others(const Connection& from, const std::shared_ptr<const HubMessage>& message);
    void leave_room(Connection& connection);

    core::Loop& m_loop;
    http::LwsContext& m_lws;
    Hub& m_hub;
    WsEndpoint m_endpoint;
    WsListenerOptions m_options;
    std::shared_ptr<WsConnectionCount> m_count;
    std::string m_protocol_name;
    std::unordered_map<lws*, std::unique_ptr<Connection>> m_connections;
    /// /signal/{room}: the peers of each room, in the order they came.
    std::unordered_map<std::string, std::vector<Connection*>> m_rooms;
    core::Timer m_ping_timer;
    /// Compressed connections to service once more on the next loop turn (drain_soon).
    std::vector<lws*> m_draining;
    core::Timer m_drain_timer;
    bool m_shutting_down = false;
};

} // namespace rtx::serve::ws
