#include "serve/http/lws_context.hpp"

#include "core/log.hpp"
#include "transport/ws/lws_support.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace rtx::serve::http {

namespace {

unsigned whole_seconds(core::Duration d) {
    const auto us = std::max<core::Duration::rep>(d.count(), 0);
    return static_cast<unsigned>(std::max<core::Duration::rep>((us + 999'999) / 1'000'000, 1));
}

} // namespace

std::optional<std::string> request_header(lws* wsi, lws_token_indexes token) {
    const int length = lws_hdr_total_length(wsi, token);
    if (length <= 0) {
        return std::nullopt;
    }
    std::string value(static_cast<std::size_t>(length) + 1, '\0');
    const int copied = lws_hdr_copy(wsi, value.data(), length + 1, token);
    if (copied < 0) {
        return std::nullopt;
    }
    value.resize(static_cast<std::size_t>(copied));
    return value;
}

LwsContext::LwsContext(core::Loop& loop)
    : m_loop(loop) {}

LwsContext::~LwsContext() {
    stop_accepting();
    m_grace.reset();
    m_destroy_soon.reset();
    m_finish.reset();
    m_request_timer.reset();
    start_destroy();
    // See destroy(): the loop must run lws's close callbacks before the second call.
    for (int turn = 0; m_context != nullptr && turn < 1000; ++turn) {
        uv_run(m_loop.native(), UV_RUN_NOWAIT);
        finish_destroy();
    }
    if (m_context != nullptr) {
        core::log_verbose("lws: the context was not freed");
    }
}

void LwsContext::add_protocol(const lws_protocols& protocol) {
    m_protocols.push_back(protocol);
}

void LwsContext::add_mount(std::string_view mountpoint, std::string_view protocol) {
    Mount& entry = m_mounts.emplace_back();
    entry.mountpoint = std::string(mountpoint);
    entry.protocol = std::string(protocol);
}

const lws_protocols* LwsContext::mounted_protocol(lws* wsi, std::string_view path) const {
    for (const Mount& mount : m_mounts) {
        const bool prefix = !mount.mountpoint.empty() && mount.mountpoint.back() == '/';
        if (prefix ? path.starts_with(mount.mountpoint) : path == mount.mountpoint) {
            return lws_vhost_name_to_protocol(lws_get_vhost(wsi), mount.protocol.c_str());
        }
    }
    return nullptr;
}

int LwsContext::route(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                      std::size_t len) {
    lws_context* context = wsi != nullptr ? lws_get_context(wsi) : nullptr;
    auto* self = context != nullptr ? static_cast<LwsContext*>(lws_context_user(context)) : nullptr;
    if (self == nullptr || self->m_default_callback == nullptr) {
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    auto forward = [&](const lws_protocols* protocol) {
        return protocol->callback(wsi, reason, protocol->user, in, len);
    };
    switch (reason) {
    case LWS_CALLBACK_HTTP:
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    case LWS_CALLBACK_WSI_DESTROY:
        // The request headers came (or the connection is gone): no longer waiting for them.
        self->m_awaiting_request.disarm(wsi);
        break;
    default:
        break;
    }
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        char path[1024];
        const int length = lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
        const lws_protocols* protocol =
            length > 0 ? self->mounted_protocol(
                             wsi, std::string_view(path, static_cast<std::size_t>(length)))
                       : nullptr;
        if (protocol == nullptr) {
            break;
        }
        self->m_routes[wsi] = protocol;
        const int answer = forward(protocol);
        if (answer != 0) {
            self->m_routes.erase(wsi); // refused: the connection stays (or dies as) HTTP
        }
        return answer;
    }
    case LWS_CALLBACK_HTTP:
        if (auto it = self->m_routes.find(wsi); it != self->m_routes.end()) {
            return forward(it->second);
        }
        if (const lws_protocols* protocol =
                self->mounted_protocol(wsi, std::string_view(static_cast<const char*>(in), len))) {
            return forward(protocol);
        }
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (auto it = self->m_routes.find(wsi); it != self->m_routes.end()) {
            const lws_protocols* protocol = it->second;
            self->m_routes.erase(it);
            forward(protocol);
        }
        break;
    default:
        if (auto it = self->m_routes.find(wsi); it != self->m_routes.end()) {
            return forward(it->second);
        }
        break;
    }
    return self->m_default_callback(wsi, reason, user, in, len);
}

void LwsContext::add_busy_check(std::function<bool()> busy) {
    m_busy_checks.push_back(std::move(busy));
}

core::Result<std::uint16_t> LwsContext::listen(const SocketAddress& address,
                                               const LwsSettings& settings) {
    m_server = new uv_tcp_t;
    uv_tcp_init(m_loop.native(), m_server);
    m_server->data = this;
    auto port = bind_and_listen(m_server, address, [](uv_stream_t* server, int status) {
        static_cast<LwsContext*>(server->data)->on_connection(status);
    });
    if (!port) {
        stop_accepting();
        return port.error();
    }
    m_bound = address;
    m_bound.port = port.value();
    if (auto created = create_context(settings); !created) {
        return created.error();
    }
    return m_bound.port;
}

core::Result<bool> LwsContext::listen_unix(const std::string& path, const LwsSettings& settings) {
    m_unix_server = new uv_pipe_t;
    uv_pipe_init(m_loop.native(), m_unix_server, 0);
    m_unix_server->data = this;
    int rc = uv_pipe_bind(m_unix_server, path.c_str());
    if (rc == 0) {
        m_unix_path = path; // ours from here on: removed by stop_accepting()
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(m_unix_server), listen_backlog(),
                       [](uv_stream_t* server, int status) {
                           static_cast<LwsContext*>(server->data)->on_connection(status);
                       });
    }
    if (rc != 0) {
        stop_accepting();
        return core::Error{core::ExitCode::bind_failed,
                           fmt::format("listen on unix:{}: {}", path, uv_strerror(rc))};
    }
    return create_context(settings);
}

core::Result<bool> LwsContext::create_context(const LwsSettings& settings) {
    transport::ws::route_lws_logs();
    m_server_name = settings.server_name;
    const unsigned seconds = whole_seconds(settings.header_timeout);
    m_awaiting_request = core::DeadlineQueue<lws*>(settings.header_timeout);
    m_request_timer = std::make_unique<core::Timer>(m_loop);

    void* foreign_loops[] = {m_loop.native()};
    lws_context_creation_info info{};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    m_secure = !settings.tls_cert_file.empty();
    if (m_secure) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    }
    info.foreign_loops = foreign_loops;
    info.pcontext = &m_context;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; // rtx accepts, lws adopts
    info.gid = -1;
    info.uid = -1;
    info.server_string = m_server_name.c_str();
    // lws sends at most this much per send(); its default (4 KiB) would cut every large
    // write into many, each waiting for the next loop iteration.
    info.pt_serv_buf_size = 64 * 1024;
    info.user = this; // route() finds this object through the context
    // RFC 6455 section 8.1: a text message that is not UTF-8 fails the connection (1007).
    info.options |= LWS_SERVER_OPTION_VALIDATE_UTF8;
    // lws arms these while a request is read or a connection closes (and arms the
    // keep-alive one after every response, which complete_transaction() clears again).
    info.timeout_secs = seconds;
    // Our own header deadline (408) runs first; lws's drop of a connection that holds
    // header storage unused comes after it, as a backstop.
    info.timeout_secs_ah_idle = seconds + 2;
    info.keepalive_timeout = static_cast<int>(seconds);
    m_context = lws_create_context(&info);
    if (m_context == nullptr) {
        stop_accepting();
        return core::Error{core::ExitCode::failure,
                           "http: libwebsockets could not create its context on the libuv loop "
                           "(is libwebsockets-evlib-uv installed?)"};
    }

    for (auto& protocol : m_protocols) {
        protocol.tx_packet_size = std::max<std::size_t>(protocol.tx_packet_size, 64 * 1024);
    }
    // Through route() always: it also sees when a connection's request headers came.
    if (!m_protocols.empty()) {
        m_default_callback = m_protocols.front().callback;
        m_protocols.front().callback = &LwsContext::route;
    }
    m_protocols.push_back(lws_protocols{}); // the terminator
    info.protocols = m_protocols.data();
    // The extension is negotiated only on WebSocket upgrades, so it costs HTTP nothing.
    static const lws_extension k_extensions[] = {
        {"permessage-deflate", lws_extension_callback_pm_deflate,
         "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
        {nullptr, nullptr, nullptr},
    };
    if (settings.websocket_compression) {
        info.extensions = k_extensions;
    }
    info.vhost_name = "rtx";
    // No lws "validity" timer (its default: a ping after 300 s idle, hang up at 310 s): lws
    // re-arms it in its sorted timeout list at every WebSocket upgrade and message, O(n) in
    // the connections each time (38 % of serve's CPU with 10,000 ws connections). The ws
    // listener keeps connections alive with its own pings (--ws-ping-interval).
    static const lws_retry_bo_t k_no_validity_timer{};
    info.retry_and_idle_policy = &k_no_validity_timer;
    if (m_secure) {
        // Adopted sockets get TLS (and ALPN: h2 or http/1.1) when the vhost has a certificate.
        info.ssl_cert_filepath = settings.tls_cert_file.c_str();
        info.ssl_private_key_filepath = settings.tls_key_file.c_str();
        if (!settings.tls_client_ca_file.empty()) {
            info.ssl_ca_filepath = settings.tls_client_ca_file.c_str();
            info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
        }
    }
    m_vhost = lws_create_vhost(m_context, &info);
    if (m_vhost == nullptr) {
        stop_accepting();
        return core::Error{core::ExitCode::failure,
                           "http: libwebsockets could not create its vhost"};
    }
    return true;
}

void LwsContext::on_connection(int status) {
    if (status != 0) {
        core::log_verbose("http: accept: {}", uv_strerror(status));
        return;
    }
    // lws wants a descriptor of its own: keep a duplicate (non-blocking like the original,
    // which libuv accepted) and let libuv close its handle and the original.
    int own = -1;
    auto take = [&own](auto* server, auto* client) {
        if (uv_accept(reinterpret_cast<uv_stream_t*>(server),
                      reinterpret_cast<uv_stream_t*>(client)) == 0) {
            uv_os_fd_t fd = -1;
            uv_fileno(reinterpret_cast<uv_handle_t*>(client), &fd);
            own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
            if (own < 0) {
                core::log_verbose("http: accept: {}", std::strerror(errno));
            }
        }
        core::close_and_delete(client);
    };
    if (m_unix_server != nullptr) {
        auto* client = new uv_pipe_t;
        uv_pipe_init(m_loop.native(), client, 0);
        take(m_unix_server, client);
    } else {
        auto* client = new uv_tcp_t;
        uv_tcp_init(m_loop.native(), client);
        take(m_server, client);
    }
    if (own < 0) {
        return;
    }
    lws* wsi = lws_adopt_socket_vhost(m_vhost, own); // closes `own` when it fails
    if (wsi == nullptr) {
        core::log_verbose("http: libwebsockets did not take a new connection");
        return;
    }
    // lws timed the connection's first exchange (PENDING_TIMEOUT_ESTABLISH_WITH_SERVER, in
    // its sorted list); the wait for the request is ours.
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    await_request(wsi);
}

void LwsContext::await_request(lws* wsi) {
    m_awaiting_request.arm(wsi, core::DeadlineQueue<lws*>::Clock::now());
    // Every deadline is as far off as this one: the timer runs for the head and, when it
    // fires, moves on to the next head. Only an idle timer needs starting here.
    if (!m_request_timer->active()) {
        m_request_timer->start(m_awaiting_request.duration(), [this] { on_request_deadline(); });
    }
}

void LwsContext::on_request_deadline() {
    using Clock = core::DeadlineQueue<lws*>::Clock;
    while (auto wsi = m_awaiting_request.pop_expired(Clock::now())) {
        // What lws does for an expired lws_set_timer_usecs(), from outside its service:
        // the protocol answers (408) and the connection closes at once, which runs its
        // close callbacks (WSI_DESTROY disarms nothing: it was popped).
        const lws_protocols* protocol = lws_get_protocol(*wsi);
        if (protocol == nullptr || protocol->callback == nullptr ||
            protocol->callback(*wsi, LWS_CALLBACK_TIMER, lws_wsi_user(*wsi), nullptr, 0) != 0) {
            lws_set_timeout(*wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        }
    }
    if (auto next = m_awaiting_request.next()) {
        const auto wait = std::chrono::ceil<core::Duration>(*next - Clock::now());
        m_request_timer->start(std::max(wait, core::Duration{0}),
                               [this] { on_request_deadline(); });
    }
}

int LwsContext::complete_transaction(lws* wsi) {
    // With part of the response still unsent, lws completes the transaction itself once it
    // has gone out, and times the wait for the next request then: leave that case to it.
    const bool deferred = lws_partial_buffered(wsi) != 0;
    const int close = lws_http_transaction_completed(wsi);
    if (close == 0 && !deferred) {
        // lws armed its keep-alive (or header storage) timeout for the wait: ours instead.
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        await_request(wsi);
    }
    return close;
}

int LwsContext::answer_header_timeout(lws* wsi) {
    static constexpr std::string_view k_response = "HTTP/1.1 408 Request Timeout\r\n"
                                                   "content-type: text/plain; charset=utf-8\r\n"
                                                   "content-length: 37\r\n"
                                                   "connection: close\r\n"
                                                   "\r\n"
                                                   "request headers did not come in time\n";
    unsigned char buffer[LWS_PRE + k_response.size()];
    std::memcpy(buffer + LWS_PRE, k_response.data(), k_response.size());
    lws_write(wsi, buffer + LWS_PRE, k_response.size(), LWS_WRITE_HTTP);
    return -1;
}

void LwsContext::stop_accepting() {
    core::close_and_delete(m_server);
    m_server = nullptr;
    core::close_and_delete(m_unix_server);
    m_unix_server = nullptr;
    if (!m_unix_path.empty()) {
        ::unlink(m_unix_path.c_str());
        m_unix_path.clear();
    }
}

void LwsContext::shutdown(core::Duration grace) {
    stop_accepting();
    if (m_shutting_down || m_context == nullptr) {
        return;
    }
    m_shutting_down = true;
    m_grace = std::make_unique<core::Timer>(m_loop);
    m_grace->start(grace, [this] { destroy(); });
    notify_idle();
}

void LwsContext::notify_idle() {
    if (!m_shutting_down || m_destroying) {
        return;
    }
    for (const auto& busy : m_busy_checks) {
        if (busy()) {
            return;
        }
    }
    // Often called from inside an lws callback, where the context must not be destroyed:
    // do it on the next loop turn.
    if (!m_destroy_soon) {
        m_destroy_soon = std::make_unique<core::Timer>(m_loop);
        m_destroy_soon->start(core::Duration{0}, [this] { destroy(); });
    }
}

bool LwsContext::start_destroy() {
    if (m_context == nullptr || m_destroying) {
        return false;
    }
    m_destroying = true;
    lws_context_destroy(m_context);
    return true;
}

void LwsContext::destroy() {
    stop_accepting();
    if (m_grace) {
        m_grace->stop();
    }
    if (m_destroy_soon) {
        m_destroy_soon->stop();
    }
    if (m_request_timer) {
        m_request_timer->stop(); // lws closes every connection now
    }
    // lws 4.1 on a foreign libuv loop frees a context in two calls. The first closes every
    // connection; when the last one's close callback has run, lws closes its own handles
    // (timer, idle). The second call frees the rest, unloads the event-lib plugin and
    // writes null to m_context (info.pcontext). It must come after the close callbacks of
    // those handles, which live in the plugin: until no handle of the loop is closing.
    if (!start_destroy()) {
        return;
    }
    m_finish = std::make_unique<core::Timer>(m_loop);
    m_finish->start(
        std::chrono::milliseconds(1),
        [this] {
            finish_destroy();
            if (m_context == nullptr || ++m_finish_attempts >= 1000) {
                m_finish->stop();
            }
        },
        std::chrono::milliseconds(1));
}

void LwsContext::finish_destroy() {
    if (m_context != nullptr && m_destroying &&
        !transport::ws::loop_handles_closing(m_loop.native())) {
        lws_context_destroy(m_context);
    }
}

} // namespace rtx::serve::http
