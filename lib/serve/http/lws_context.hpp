#pragma once

#include "core/deadline_queue.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "serve/socket_address.hpp"

#include <libwebsockets.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtx::serve::http {

/// A request header lws parsed (WSI_TOKEN_...), or nullopt when the request has none.
std::optional<std::string> request_header(lws* wsi, lws_token_indexes token);

/// Settings that apply to every connection of an LwsContext.
struct LwsSettings {
    /// How long a new connection may take to send its request headers before it is answered
    /// 408 and closed; an idle keep-alive connection is closed after that long too. lws's
    /// own timeouts, which count whole seconds, are derived from it (rounded up): a request
    /// whose body stops arriving is closed after that long.
    core::Duration header_timeout = std::chrono::seconds(10);
    /// The Server header of every response.
    std::string server_name = "rtx";
    /// Offer permessage-deflate (RFC 7692) to WebSocket clients that ask for it.
    bool websocket_compression = true;
    /// TLS on the port (https://, wss://) when set: PEM certificate chain and key files.
    std::string tls_cert_file;
    std::string tls_key_file;
    /// When set, clients must present a certificate this CA signed.
    std::string tls_client_ca_file;
};

/// One libwebsockets context running on a core::Loop as a foreign loop
/// (LWS_SERVER_OPTION_LIBUV with foreign_loops; Debian's libwebsockets-evlib-uv plugin does
/// the work), with one vhost. Every listener that speaks HTTP or WebSocket shares it, and
/// its one port: Debian's lws is built with LWS_MAX_SMP 1, one context per loop. Listeners
/// register their lws protocols and mounts first; listen() then creates the context.
///
/// rtx accepts the connections itself, on a uv_tcp_t bound by bind_and_listen() (so bind
/// errors, IPv6 and port 0 behave as for every other listener), and hands each accepted
/// socket to lws (lws_adopt_socket_vhost).
///
/// Timeouts: lws 4.1 keeps every scheduled timeout of a service thread (lws_set_timeout,
/// lws_set_timer_usecs) in one sorted list, where each insertion walks from the head: O(n)
/// in the timeouts pending, O(n^2) for a ramp to n connections (80 % of serve's CPU at
/// 8,000 subscribers). So no connection keeps an lws timeout while it waits: the wait for
/// request headers (after accept, and between keep-alive requests) is timed here, in a
/// DeadlineQueue (O(1)), and lws's own timeout is cleared when it would stay; the stream
/// and poll exchanges clear theirs. What is left in lws's list is transient (a request
/// being read, a connection closing), so its insertions stay cheap.
///
/// Shutdown: lws frees a context on a foreign loop only once libuv has run the close
/// callbacks of its handles. shutdown() stops accepting and destroys the context as soon as
/// no registered busy check reports work left (or after a grace period); the loop must then
/// keep running until destroyed(). The destructor finishes the job by running the loop
/// itself (UV_RUN_NOWAIT), so it must not run inside a loop callback unless destroyed() is
/// already true. Loop thread only.
class LwsContext {
public:
    explicit LwsContext(core::Loop& loop);
    /// Destroys the context if that has not happened yet, and runs the loop until lws has
    /// closed its handles. lws calls the protocols' callbacks meanwhile (closing
    /// connections): their owners must still be alive.
    ~LwsContext();
    LwsContext(const LwsContext&) = delete;
    LwsContext& operator=(const LwsContext&) = delete;

    /// Adds a protocol to the vhost; before listen() only. The first one added is the
    /// vhost's default: it gets every HTTP request no mount claims, and the callbacks of a
    /// connection before its request is known. That includes LWS_CALLBACK_TIMER, which
    /// this object sends (outside lws's service, from its own timer) when a connection's
    /// request headers did not come within the header timeout, after accept or after the
    /// previous response: the callback answers with answer_header_timeout() (first request)
    /// or returns non-zero to close silently (idle keep-alive), and the connection is then
    /// closed; 0 keeps it. lws copies nothing it is given: the strings must outlive this
    /// object.
    void add_protocol(const lws_protocols& protocol);
    /// Sends the WebSocket upgrades (and plain requests) whose path is `mountpoint`, or starts
    /// with it when it ends in '/', to the protocol named `protocol`, added before; before
    /// listen() only. For the WebSocket endpoints; the HTTP listener, the default protocol,
    /// needs no mount.
    ///
    /// lws 4.1 does not do this itself: an upgrade is offered to the connection's protocol,
    /// the vhost's default (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE), and then bound to the protocol
    /// named by Sec-WebSocket-Protocol or, with no such header, to the default again; lws
    /// mounts only route plain HTTP requests. So the default protocol's callback goes through
    /// a router here: on CONFIRM_UPGRADE it looks the path up in these mounts and from then
    /// on forwards every callback of that connection to the mounted protocol (and the
    /// WSI_CREATE / WSI_DESTROY of every connection to the default protocol as well, which
    /// keeps count of connections). A plain request for a mounted path is forwarded too
    /// (LWS_CALLBACK_HTTP only): it should be answered and the connection closed. Forwarded
    /// calls pass the mounted protocol's `user` as their `user` argument.
    void add_mount(std::string_view mountpoint, std::string_view protocol);
    /// Adds a check shutdown() asks before destroying the context: true while the caller
    /// still has a response to finish. Call notify_idle() when it may have become false.
    void add_busy_check(std::function<bool()> busy);

    /// Binds `address`, creates the context and its vhost, and starts accepting. Returns the
    /// port bound. Errors: ExitCode::bind_failed or usage as for every listener;
    /// ExitCode::failure when lws cannot create its context (no libuv event-lib plugin).
    core::Result<std::uint16_t> listen(const SocketAddress& address, const LwsSettings& settings);
    /// listen() on a Unix domain socket at `path` (created; removed by stop_accepting()):
    /// its connections are adopted as TCP's are (lws is built with LWS_WITH_UNIX_SOCK).
    /// ExitCode::bind_failed when the path cannot be bound.
    core::Result<bool> listen_unix(const std::string& path, const LwsSettings& settings);
    /// The address bound (the real port after listen() with port 0).
    const SocketAddress& bound() const { return m_bound; }
    /// True when the port speaks TLS (after listen()).
    bool secure() const { return m_secure; }

    /// Stops accepting; destroys the context once every busy check is false, or after
    /// `grace` at most (then lws closes what is still open).
    void shutdown(core::Duration grace = std::chrono::seconds(1));
    /// A busy check may have turned false (during shutdown: see whether all are done).
    void notify_idle();
    /// Closes the listening socket; the connections already accepted go on (`rtx ws -l`
    /// without --keep-open takes one client).
    void stop_accepting();

    /// lws_http_transaction_completed() for a response that is done: returns its answer
    /// (non-zero: close the connection). When the connection stays open for the next
    /// request, its wait is timed here (see add_protocol) instead of by lws (unless part of
    /// the response is still unsent: lws then completes and times it later). Use it, not
    /// lws_http_transaction_completed, for every connection of this context.
    int complete_transaction(lws* wsi);
    /// Connections waiting for request headers, timed by this object.
    std::size_t awaiting_request() const { return m_awaiting_request.size(); }
    /// True once lws has freed the context (or none was created).
    bool destroyed() const { return m_context == nullptr; }

    /// Answers a connection whose request headers did not arrive in time: writes a 408
    /// response and returns -1, which the protocol callback returns so that lws closes the
    /// connection. For LWS_CALLBACK_TIMER on a connection with no request yet.
    static int answer_header_timeout(lws* wsi);

private:
    struct Mount {
        std::string mountpoint;
        std::string protocol;
    };

    static int route(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
    const lws_protocols* mounted_protocol(lws* wsi, std::string_view path) const;
    /// Creates the context and its vhost once the listening socket is bound.
    core::Result<bool> create_context(const LwsSettings& settings);
    void on_connection(int status);
    /// (Re)starts the wait for `wsi`'s next request headers.
    void await_request(lws* wsi);
    void on_request_deadline();
    bool start_destroy();
    void destroy();
    void finish_destroy();

    core::Loop& m_loop;
    std::vector<lws_protocols> m_protocols; ///< Terminated by listen(); lws points into it.
    std::deque<Mount> m_mounts;
    /// The default protocol's own callback, which route() calls for what is not forwarded.
    lws_callback_function* m_default_callback = nullptr;
    /// Upgraded (or upgrading) connections and the mounted protocol that serves them.
    std::unordered_map<lws*, const lws_protocols*> m_routes;
    std::vector<std::function<bool()>> m_busy_checks;
    std::string m_server_name;
    lws_context* m_context = nullptr; ///< lws writes null here when it has freed it.
    lws_vhost* m_vhost = nullptr;
    uv_tcp_t* m_server = nullptr;
    uv_pipe_t* m_unix_server = nullptr; ///< Instead of m_server: listen_unix().
    std::string m_unix_path;            ///< Bound by listen_unix(); unlinked when it stops.
    SocketAddress m_bound;
    bool m_secure = false;
    /// Connections with no request headers yet (new or idle keep-alive).
    core::DeadlineQueue<lws*> m_awaiting_request{core::Duration{0}};
    std::unique_ptr<core::Timer> m_request_timer; ///< For m_awaiting_request's head.
    bool m_shutting_down = false;
    bool m_destroying = false;
    std::unique_ptr<core::Timer> m_grace;
    std::unique_ptr<core::Timer> m_destroy_soon;
    std::unique_ptr<core::Timer> m_finish;
    int m_finish_attempts = 0;
};

} // namespace rtx::serve::http
