#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/access.hpp"
#include "serve/fault/injector.hpp"
#include "serve/http/cors.hpp"
#include "serve/http/custom_route.hpp"
#include "serve/http/exchange.hpp"
#include "serve/http/http_format.hpp"
#include "serve/http/lws_context.hpp"
#include "serve/http/pages.hpp"
#include "serve/http/push_service.hpp"
#include "serve/hub.hpp"
#include "serve/listener.hpp"
#include "serve/replay_feed.hpp"
#include "serve/webrtc/peer_service.hpp"

#include <libwebsockets.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace rtx::serve::http {

/// What the HTTP endpoints allow (the --heartbeat, --poll-hold, --max-body options).
struct HttpListenerOptions {
    core::Duration heartbeat = std::chrono::seconds(15); ///< SSE comment on a quiet stream.
    core::Duration poll_hold = std::chrono::seconds(25); ///< Longest hold of a poll.
    std::size_t max_body = 1024 * 1024;                  ///< Largest POST body (else 413).
    std::chrono::milliseconds sse_retry{3000};           ///< The SSE `retry:` hint.
    PushFault push_fault; ///< What every push to the mock push service gets (--push-fault).
    AccessOptions access; ///< --auth and --cors (the mock push service keeps its own auth).
    /// --fault for /sse/, /stream/ and /poll/, and GET /stats; null: none (must outlive the
    /// listener).
    fault::Injector* faults = nullptr;
    std::vector<CustomRoute> routes; ///< --route (ws routes go to the WebSocket listener).
    /// --replay recordings by topic: what a POST to an sse or stream route plays.
    std::map<std::string, std::shared_ptr<const std::vector<ReplayRecord>>, std::less<>> recordings;
    double replay_speed = 1.0; ///< --replay-speed
};

/// The HTTP endpoints of `rtx serve` (GET /, /eventsource.html, /websocket.html, /sse/{topic},
/// /stream/{topic}, /poll/{topic}, POST /publish/{topic}, the mock push service under /push/;
/// man/rtx-serve.1) as the default
/// protocol of an LwsContext, over the server's hub. Owns one Exchange per request that
/// cannot be answered at once, keyed by its lws connection. Loop thread only.
class HttpListener final : public Listener {
public:
    /// Registers the protocol with `lws` (before LwsContext::listen). `lws` and `hub` must
    /// outlive the listener, and `lws` must be destroyed before it (lws calls back while it
    /// closes connections).
    HttpListener(core::Loop& loop, LwsContext& lws, Hub& hub, HttpListenerOptions options);
    ~HttpListener() override;

    std::string name() const override { return "http"; }
    std::string url() const override;
    /// Every open stream ends with its last chunk, every held poll is answered 204, new
    /// requests get 503; the connections close once their responses are written.
    void shutdown() override;
    std::size_t connections() const override { return m_connections.size(); }
    /// WHIP (/whip/{target}) with rtx serve's WebRTC peers, which must outlive the listener;
    /// null: 404.
    void set_webrtc_peers(webrtc::PeerService* peers) { m_peers = peers; }
    /// The listeners GET / names (every listener of the server, this one included); set once
    /// they are all bound, since their ports are known only then.
    void set_index_listeners(std::span<const PageEndpoint> listeners);

private:
    static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                        std::size_t len);
    int on_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
    struct Request;
    class Replier;
    static Request read_request(lws* wsi);
    Next on_request(lws* wsi, std::string_view path);
    /// --fault: a new subscriber's faults, or the 503 of a refusal (in `refused`).
    std::unique_ptr<fault::ConnectionFaults> open_faults(fault::Protocol protocol, Next& refused,
                                                         const Replier& reply);
    Next start_stream(lws* wsi, const Request& request, const Route& route, const Replier& reply);
    Next start_poll(lws* wsi, const Request& request, std::string_view topic, const Replier& reply);
    static Route custom_endpoint(const CustomRoute& custom);
    Next start_replay(lws* wsi, const Request& request, const CustomRoute& custom,
                      const Replier& reply);
    Next start_publish(lws* wsi, const Request& request, std::string_view topic,
                       const Replier& reply);
    Next start_push(lws* wsi, const Request& request, std::string_view rest, const Replier& reply);
    Next start_whip(lws* wsi, const Request& request, std::string_view rest, const Replier& reply);
    static std::int64_t unix_ms();
    /// Flushes the push service's pending messages and re-arms for the next expiry.
    void run_push_timer();
    void arm_push_timer(std::int64_t now);
    int dispatch(lws* wsi, Next next);
    int forward(lws* wsi, Next (Exchange::*call)());
    void forget(lws* wsi);
    /// `next` of a stream or poll just started: queues its header storage to be detached.
    Next held(lws* wsi, Next next);
    /// Detaches the queued header storage, except that of `reading` (in its request callback).
    void detach_held_headers(lws* reading = nullptr);

    core::Loop& m_loop;
    LwsContext& m_lws;
    Hub& m_hub;
    HttpListenerOptions m_options;
    CorsPolicy m_cors{m_options.access};
    std::string m_index_page; ///< GET /, rendered by set_index_listeners.
    /// Every open connection, and whether a request has arrived on it (header timeout).
    std::unordered_map<lws*, bool> m_connections;
    std::unordered_map<lws*, std::unique_ptr<Exchange>> m_exchanges;
    /// Connections we asked lws to close whose LWS_CALLBACK_CLOSED_HTTP has not come yet.
    std::unordered_set<lws*> m_closing;
    /// Streams and polls started since the last request, oldest first, whose header storage
    /// detach_held_headers() gives back at the next request or before the loop polls again.
    std::vector<lws*> m_detach_soon;
    std::uint64_t m_detach_hook = 0;
    core::Timer m_heartbeat;
    core::Timer m_push_timer; ///< pending pushes: the next flush or expiry
    PushService m_push;
    bool m_shutting_down = false;
    webrtc::PeerService* m_peers = nullptr;
};

} // namespace rtx::serve::http
