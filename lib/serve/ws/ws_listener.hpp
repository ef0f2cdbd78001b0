#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/access.hpp"
#include "serve/fault/injector.hpp"
#include "serve/http/lws_context.hpp"
#include "serve/hub.hpp"
#include "serve/listener.hpp"
#include "serve/webrtc/peer_service.hpp"
#include "serve/ws/ws_session.hpp"

#include <libwebsockets.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
    /// --auth: an upgrade without credentials gets 401; with publish_only it is let in, but
    /// may not publish (a message it sends on /ws/ or /signal/ closes it with 1008).
    AccessOptions access;
    /// --fault for /echo and /ws/{topic} (refusal: close 1013 after the handshake); null:
    /// none (must outlive the listener).
    fault::Injector* faults = nullptr;
    /// --route PATH=ws:TOPIC (pubsub endpoint): PATH is /ws/TOPIC under another name.
    std::vector<std::pair<std::string, std::string>> routes;
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
/// HTTP port, mounted at "/echo" or "/ws/". lws makes the handshake (the HTTP port, Origin,
/// limits, permessage-deflate negotiation); then the connection's frames are ours, both
/// ways (WsSession), so every rule of RFC 6455 and RFC 7692 is kept as we mean it, not as
/// lws 4.1 approximates it. Loop thread only.
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
    /// /webrtc/{target} (pubsub only): signalling with rtx serve's own WebRTC peers, which
    /// must outlive the listener; null: 404.
    void set_webrtc_peers(webrtc::PeerService* peers) { m_peers = peers; }

private:
    struct Connection;
    static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                        std::size_t len);
    int on_callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len);
    int on_confirm_upgrade(lws* wsi);
    /// Starts the sessions of the connections established since the last loop turn.
    void take_over_pending();
    void take_over(Connection& connection);
    void on_message(Connection& connection, bool binary, std::string_view payload);
    /// --fault: the connection's faults; a refused one is closed 1013 once it opens.
    void open_faults(Connection& connection);
    void enqueue(Connection& connection, std::shared_ptr<const HubMessage> message);
    /// Closes with `code` (before the session starts: as soon as it does).
    void begin_close(Connection& connection, int code, std::string reason, bool drop_queued);
    /// The session ended: lws closes the socket and destroys the connection.
    void release(Connection& connection);
    void on_ping_timer();
    void forget(lws* wsi);
    /// /signal/{room}: a text message for one peer; every peer of the room but `from`.
    void signal_to(Connection& connection, std::string text);
    void signal_others(const Connection& from, const std::shared_ptr<const HubMessage>& message);
    void leave_room(Connection& connection);
    /// /webrtc/{target}: the client's offer goes to a new peer; its answer comes back.
    void webrtc_message(Connection& connection, bool binary, std::string_view payload);

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
    /// Connections established and not yet taken over (take_over_pending).
    std::vector<lws*> m_taking_over;
    std::uint64_t m_take_over_hook = 0;
    bool m_shutting_down = false;
    webrtc::PeerService* m_peers = nullptr;
};

} // namespace rtx::serve::ws
