#include "transport/ws/ws_client.hpp"

#include "core/fifo.hpp"
#include "core/log.hpp"
#include "core/timer.hpp"
#include "proto/ws_codec.hpp"
#include "transport/ws/lws_support.hpp"

#include <fmt/format.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

namespace rtx::transport {

using core::ExitCode;

namespace {

constexpr const char* k_protocol_name = "rtx-ws-client";
/// The largest piece of a message handed to lws_write at once: a big message goes out as
/// fragments, so one connection never makes lws buffer megabytes, and the loop stays fair.
constexpr std::size_t k_fragment = 64 * 1024;
/// lws's own value for a close frame write (LWS_WRITE_CLOSE, kept out of its public header
/// since lws_close_reason() is the public way). rtx writes its close frame itself: see
/// WsConnection::send_close_frame().
constexpr auto k_write_close = static_cast<lws_write_protocol>(4);
/// Writes per WRITEABLE callback while the socket takes them (then wait for the next one).
constexpr int k_writes_per_turn = 16;

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);

/// Spare frame buffers a connection keeps for its next messages: enough for the messages in
/// flight of a steady sender, so that sending does not allocate.
constexpr std::size_t k_spare_frames = 8;
/// A spare frame buffer larger than this is freed rather than kept (one big message must
/// not pin its size in every connection that once sent one).
constexpr std::size_t k_spare_frame_capacity = LWS_PRE + k_fragment;

// lws points into these for the context's life; they never change.
const lws_extension k_extensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_max_window_bits"},
    {nullptr, nullptr, nullptr},
};

std::string_view close_code_name(int code) {
    switch (code) {
    case 1000:
        return "normal closure";
    case 1001:
        return "going away";
    case 1002:
        return "protocol error";
    case 1003:
        return "unsupported data";
    case 1005:
        return "no status";
    case 1006:
        return "abnormal closure";
    case 1007:
        return "invalid payload data";
    case 1008:
        return "policy violation";
    case 1009:
        return "message too big";
    case 1010:
        return "mandatory extension";
    case 1011:
        return "internal error";
    case 1012:
        return "service restart";
    case 1013:
        return "try again later";
    case 1014:
        return "bad gateway";
    case 1015:
        return "TLS handshake";
    default:
        return {};
    }
}

bool contains_any(std::string_view text, std::initializer_list<std::string_view> words) {
    return std::any_of(words.begin(), words.end(),
                       [text](std::string_view word) { return text.find(word) != text.npos; });
}

} // namespace

std::string describe_close_code(int code) {
    auto name = close_code_name(code);
    return name.empty() ? fmt::format("{}", code) : fmt::format("{} ({})", code, name);
}

/// One WebSocket client connection: lws's callbacks drive it, the Connection interface is
/// its user's. Outgoing messages wait in a queue (with LWS_PRE bytes of headroom each) and
/// leave in fragments on WRITEABLE; incoming fragments are joined until the final one.
class WsConnection final : public Connection, private proto::WsReaderEvents {
public:
    WsConnection(WsClient::Impl& client, const core::Url& url, const ConnectOptions& connect,
                 std::shared_ptr<const WsOptions> options, Handler& handler, std::uint64_t id);
    ~WsConnection() override;

    /// `url` and `connect`: those of the constructor (only what outlives the connect attempt
    /// is kept: a bench holds thousands of connections).
    void start(const core::Url& url, const ConnectOptions& connect);
    void note_extension(std::string_view name) {
        m_extensions += m_extensions.empty() ? "" : ", ";
        m_extensions += name;
    }
    int on_callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len);

    bool send(const Message& message) override;
    void finish_sending() override;
    void close() override;
    bool send_ping(std::string_view payload) override;
    void close_with(int code, const std::string& reason) override;
    bool is_open() const override { return m_state == State::open; }
    std::size_t buffered_bytes() const override {
        return m_queued_bytes + (m_out.size() - m_out_sent);
    }
    const ConnectionStats& stats() const override { return m_stats; }
    std::uint64_t id() const override { return m_id; }
    /// Own framing only (`--bridge ws://` has it): lws's own reads are not paused.
    void pause_receiving(bool paused) override {
        if (m_receive_paused != paused) {
            m_receive_paused = paused;
            update_poll();
        }
    }

private:
    enum class State { connecting, open, closing, closed };
    struct Outgoing {
        std::string frame; ///< LWS_PRE bytes of headroom, then the payload.
        std::size_t sent = LWS_PRE;
        bool binary = false;
        bool started = false; ///< The first fragment is out (the rest are continuations).
        bool ping = false;    ///< A user's ping (--commands) waiting for take_over().
    };

    int on_writeable();
    int send_close_frame();
    int on_receive(const char* data, std::size_t len);
    void on_established();
    void on_peer_close(const unsigned char* payload, std::size_t len);
    void on_connection_error(std::string_view error);
    void on_closed();
    void send_ping();
    /// Ends with `info` after the socket is gone (lws finished with it).
    void finish(CloseInfo info);
    /// Asks lws to close: with our close frame if the session is open, else at once.
    void start_close(int code, std::string reason);
    void kill();
    /// (Re)starts --linger: the wait for the server's close frame after ours.
    void start_linger();
    /// After our close, bytes the user still gets (after the end of input) restart --linger;
    /// dropped ones (--count, --timeout, a signal, a protocol violation) do not, or a server
    /// that streams on and never answers our close would keep rtx from exiting at all.
    void linger_for_printed_data();
    std::int64_t now_us() const;
    void note_ping_sent(std::uint64_t stamp);
    void note_pong();

    // Own framing (WsOptions::own_framing): after the handshake rtx reads and writes the
    // frames on a duplicate of lws's socket (and lws's TLS session), lws being told to read
    // no more (rx flow control). See take_over().
    void take_over();
    void read_native();
    void on_native_bytes(std::string_view bytes);
    void flush_native();
    void update_poll();
    void drop_queued_pings();
    void queue_frame(int opcode, std::string_view payload);
    void queue_close(int code, std::string_view reason);
    void fail_protocol(const proto::WsViolation& violation);
    /// Stops our I/O and makes lws see the end of the socket, which reports CLIENT_CLOSED.
    void end_native();
    void release_native_io();
    void stop_takeover_prepare();
    void on_ws_message(bool binary, std::string_view payload) override;
    void on_ws_ping(std::string_view payload) override;
    void on_ws_pong(std::string_view payload) override;
    void on_ws_close(std::optional<int> code, std::string_view reason) override;

    WsClient::Impl& m_client;
    std::string m_host; ///< Of the URL, for messages.
    std::uint16_t m_port;
    core::Duration m_connect_timeout;
    /// Shared by the connections of a WsClient made with equal options (bench: all of them).
    std::shared_ptr<const WsOptions> m_options;
    Handler& m_handler;
    std::uint64_t m_id;
    lws* m_wsi = nullptr;
    State m_state = State::connecting;
    ConnectionStats m_stats;
    std::string m_extensions;         ///< Negotiated extensions (permessage-deflate).
    std::string m_chosen_subprotocol; ///< The server's Sec-WebSocket-Protocol.

    /// Reuses a written frame buffer for a later message (or frees it).
    void recycle(std::string&& frame);
    /// LWS_PRE bytes of headroom and `payload`, in a spare buffer when there is one.
    std::string frame_for(std::string_view payload);

    core::Fifo<Outgoing> m_queue;
    std::vector<std::string> m_retired; ///< Written, but lws may still read them (deflate).
    std::vector<std::string> m_spare;   ///< Empty frame buffers with capacity, to reuse.
    std::size_t m_queued_bytes = 0;
    bool m_sending_finished = false;
    bool m_ping_due = false;
    std::optional<std::pair<int, std::string>> m_our_close; ///< Code and reason to send.
    bool m_close_sent = false;                              ///< Our close frame is out.
    bool m_discard_rx = false; ///< close() or an error: what still arrives is not delivered.

    std::string m_rx; ///< The message being received (fragments joined).
    bool m_rx_binary = false;
    bool m_rx_overflow = false; ///< Over --max-message: drop the rest while we close.

    std::optional<int> m_peer_close_code; ///< From the server's close frame.
    std::string m_peer_close_reason;
    std::optional<CloseInfo> m_failure; ///< Why we are closing, when it is our decision.

    // Made on first use (most connections of a bench never ping, linger or close), and the
    // connect deadline is freed with its libuv handle once the connection is open.
    core::Timer& timer(std::unique_ptr<core::Timer>& slot);
    std::unique_ptr<core::Timer> m_connect_timer;
    std::unique_ptr<core::Timer> m_ping_timer;
    std::unique_ptr<core::Timer> m_pong_timer;
    std::unique_ptr<core::Timer> m_linger_timer;
    std::unique_ptr<core::Timer> m_deliver_close;
    uv_prepare_t* m_takeover_prepare = nullptr; ///< Runs take_over() once; see on_established.
    std::int64_t m_started_us = 0;
    std::int64_t m_ping_sent_us = 0;
    bool m_awaiting_pong = false;

    bool m_own = false;                ///< Own framing wanted (and still possible).
    bool m_taken_over = false;         ///< Our I/O runs; lws reads nothing more.
    bool m_receive_paused = false;     ///< pause_receiving(): the socket is not read.
    bool m_native_done = false;        ///< end_native() ran.
    bool m_close_was_answer = false;   ///< Our close frame answered the server's.
    bool m_reader_stopped = false;     ///< After a violation: frames cannot be told apart.
    std::size_t m_window_messages = 0; ///< Delivered by lws before take_over().
    bool m_window_incomplete = false;  ///< ... and the last of them was not finished.
    std::string m_extensions_header;   ///< The server's Sec-WebSocket-Extensions (own framing).
    int m_fd = -1;                     ///< A duplicate of lws's socket.
    uv_poll_t* m_poll = nullptr;
    SSL* m_ssl = nullptr; ///< lws's TLS session (wss://), used by us once taken over.
    std::unique_ptr<proto::WsReader> m_reader;
    std::unique_ptr<proto::WsDeflater> m_deflater;
    std::string m_out; ///< Encoded frames not yet written, in order (pongs before echoes).
    std::size_t m_out_sent = 0;
    bool m_end_after_flush = false;
};

struct WsClient::Impl {
    Impl(core::Loop& loop_, TlsOptions tls_, std::string proxy_)
        : loop(loop_)
        , tls(std::move(tls_))
        , proxy(std::move(proxy_)) {}

    core::Loop& loop;
    TlsOptions tls;
    std::string proxy;
    /// lws points into this for the context's life.
    lws_protocols protocols[2] = {};
    lws_context* context = nullptr;
    lws_vhost* vhost = nullptr;
    /// The options of the last connect(), shared with the connections made with them.
    std::shared_ptr<const WsOptions> options;
};

namespace {

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
    (void)user;
    auto* connection = static_cast<WsConnection*>(lws_get_opaque_user_data(wsi));
    if (connection == nullptr) {
        // A connection whose owner is gone (destroyed while open), or a context-level
        // callback: lws's defaults are right, except that an orphan must not live on.
        if (reason == LWS_CALLBACK_CLIENT_WRITEABLE || reason == LWS_CALLBACK_CLIENT_RECEIVE) {
            return -1;
        }
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    if (reason == LWS_CALLBACK_WS_EXT_DEFAULTS && user != nullptr) {
        // An extension the server accepted is being set up; `user` is its name.
        connection->note_extension(static_cast<const char*>(user));
        return 0;
    }
    return connection->on_callback(wsi, reason, in, len);
}

} // namespace

// --- WsClient -----------------------------------------------------------------------------

WsClient::WsClient(core::Loop& loop, TlsOptions tls, std::string proxy, std::size_t rx_buffer)
    : m_impl(std::make_unique<Impl>(loop, std::move(tls), std::move(proxy))) {
    lws_protocols& protocol = m_impl->protocols[0];
    protocol.name = k_protocol_name;
    protocol.callback = callback;
    // lws allocates this much (plus LWS_PRE) for every connection as it opens, and hands
    // received payload over in pieces of at most this size.
    protocol.rx_buffer_size = rx_buffer;
    protocol.tx_packet_size = k_fragment;
}

WsClient::~WsClient() {
    ws::destroy_lws_context_now(m_impl->loop.native(), &m_impl->context);
}

core::Result<bool> WsClient::init() {
    ws::route_lws_logs();
    void* foreign_loops[] = {m_impl->loop.native()};
    lws_context_creation_info info{};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
                   LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    info.foreign_loops = foreign_loops;
    info.pcontext = &m_impl->context;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = m_impl->protocols;
    info.extensions = k_extensions;
    info.gid = -1;
    info.uid = -1;
    info.pt_serv_buf_size = 64 * 1024;
    // Connect and handshake deadlines are rtx's own (--connect-timeout); lws's generic
    // timeout is only a backstop.
    info.timeout_secs = 3600;
    // No lws "validity" timer (default: ping after 300 s idle): lws re-arms it in one sorted
    // list per thread at every handshake and message, a walk over all the connections each
    // time; with 16,000 bench connections per process that walk was 47 % of the CPU and the
    // connect rate fell far below --connect-rate. Keepalive is rtx's own (--ping-interval).
    static const lws_retry_bo_t k_no_validity_timer{};
    info.retry_and_idle_policy = &k_no_validity_timer;
    const TlsOptions& tls = m_impl->tls;
    if (!tls.ca_file.empty()) {
        info.client_ssl_ca_filepath = tls.ca_file.c_str();
    }
    if (!tls.cert_file.empty()) {
        info.client_ssl_cert_filepath = tls.cert_file.c_str();
        info.client_ssl_private_key_filepath =
            tls.key_file.empty() ? tls.cert_file.c_str() : tls.key_file.c_str();
    }
    std::string proxy_host;
    if (!m_impl->proxy.empty()) {
        std::string_view proxy = m_impl->proxy;
        if (auto scheme = proxy.find("://"); scheme != proxy.npos) {
            proxy.remove_prefix(scheme + 3);
        }
        auto colon = proxy.rfind(':');
        unsigned port = 0;
        if (colon == proxy.npos ||
            std::sscanf(std::string(proxy.substr(colon + 1)).c_str(), "%u", &port) != 1 ||
            port == 0 || port > 65535) {
            return core::Error{ExitCode::usage,
                               fmt::format("--proxy: expected HOST:PORT (got '{}')", proxy)};
        }
        proxy_host = std::string(proxy.substr(0, colon));
        info.http_proxy_address = proxy_host.c_str();
        info.http_proxy_port = port;
    }
    // A CA or certificate file lws cannot load fails the context (lws logs why).
    for (const std::string* file : {&tls.ca_file, &tls.cert_file, &tls.key_file}) {
        if (!file->empty() && ::access(file->c_str(), R_OK) != 0) {
            return core::Error{ExitCode::tls_failed,
                               fmt::format("tls: cannot read {}: {}", *file, std::strerror(errno))};
        }
    }
    m_impl->context = lws_create_context(&info);
    if (m_impl->context == nullptr) {
        if (!tls.ca_file.empty() || !tls.cert_file.empty()) {
            return core::Error{ExitCode::tls_failed,
                               "tls: libwebsockets could not load the CA, certificate or key "
                               "(run with -v for its reason)"};
        }
        return core::Error{ExitCode::failure,
                           "ws: libwebsockets could not create its context on the libuv loop "
                           "(is libwebsockets-evlib-uv installed?)"};
    }
    return true;
}

std::unique_ptr<Connection> WsClient::connect(const core::Url& url, const ConnectOptions& connect,
                                              const WsOptions& options, Handler& handler,
                                              std::uint64_t id) {
    // A bench makes thousands of connections with equal options: they share one copy.
    if (!m_impl->options || !(*m_impl->options == options)) {
        m_impl->options = std::make_shared<const WsOptions>(options);
    }
    auto connection =
        std::make_unique<WsConnection>(*m_impl, url, connect, m_impl->options, handler, id);
    connection->start(url, connect);
    return connection;
}

// --- WsConnection --------------------------------------------------------------------------

WsConnection::WsConnection(WsClient::Impl& client, const core::Url& url,
                           const ConnectOptions& connect, std::shared_ptr<const WsOptions> options,
                           Handler& handler, std::uint64_t id)
    : m_client(client)
    , m_host(url.host)
    , m_port(url.port)
    , m_connect_timeout(connect.connect_timeout)
    , m_options(std::move(options))
    , m_handler(handler)
    , m_id(id)
    , m_own(m_options->own_framing) {}

WsConnection::~WsConnection() {
    release_native_io();
    if (m_wsi != nullptr && m_state != State::closed) {
        // Destroyed while lws still has the socket: detach and let lws drop it.
        lws_set_opaque_user_data(m_wsi, nullptr);
        kill();
        m_wsi = nullptr;
    }
}

std::int64_t WsConnection::now_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

core::Timer& WsConnection::timer(std::unique_ptr<core::Timer>& slot) {
    if (!slot) {
        slot = std::make_unique<core::Timer>(m_client.loop);
    }
    return *slot;
}

void WsConnection::start(const core::Url& url, const ConnectOptions& connect) {
    m_started_us = now_us();
    const bool tls = url.scheme == "wss";
    const std::uint16_t default_port = tls ? 443 : 80;
    // lws copies what it is given here (its connect stash and header table): these need not
    // outlive the call.
    std::string host_header =
        url.host.find(':') != std::string::npos ? fmt::format("[{}]", url.host) : url.host;
    if (url.port != default_port) {
        host_header += fmt::format(":{}", url.port);
    }
    std::string subprotocol_header;
    for (const auto& protocol : m_options->subprotocols) {
        if (!subprotocol_header.empty()) {
            subprotocol_header += ", ";
        }
        subprotocol_header += protocol;
    }
    std::string path = url.path.empty() ? "/" : url.path;
    if (!url.query.empty()) {
        path += "?" + url.query;
    }

    if (!connect.unix_socket.empty()) {
        m_host = "+" + connect.unix_socket; // lws's spelling of a Unix domain socket address
        m_port = 0;
    }
    lws_client_connect_info info{};
    info.context = m_client.context;
    info.address = m_host.c_str();
    info.port = m_port;
    info.path = path.c_str();
    info.host = host_header.c_str();
    // Origin goes out with the other extra headers: lws's own origin field would prefix
    // "http://" to whatever it is given.
    info.protocol = subprotocol_header.empty() ? nullptr : subprotocol_header.c_str();
    info.local_protocol_name = k_protocol_name;
    info.opaque_user_data = this;
    info.pwsi = &m_wsi;
    // lws copies it and binds the socket to it before connecting (rtx bench --source-ip).
    info.iface = connect.source_ip.empty() ? nullptr : connect.source_ip.c_str();
    if (tls) {
        info.ssl_connection = LCCSCF_USE_SSL;
        if (connect.tls.insecure) {
            info.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
                                   LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK | LCCSCF_ALLOW_EXPIRED |
                                   LCCSCF_ALLOW_INSECURE;
        }
    }
    // lws may report a failure from inside this call (CONNECTION_ERROR): finish() defers
    // on_close to a later loop turn, as the Handler contract requires.
    lws* wsi = lws_client_connect_via_info(&info);
    if (wsi == nullptr && m_state == State::connecting) {
        m_wsi = nullptr;
        CloseInfo failure;
        failure.exit_code = ExitCode::connect_failed;
        failure.reason = m_port == 0
                             ? fmt::format("connect to unix:{}: failed", connect.unix_socket)
                             : fmt::format("connect to {}:{}: failed", m_host, m_port);
        finish(std::move(failure));
        return;
    }
    if (m_state == State::connecting && m_connect_timeout.count() > 0) {
        timer(m_connect_timer).start(m_connect_timeout, [this] {
            if (m_state != State::connecting) {
                return;
            }
            CloseInfo failure;
            failure.exit_code = ExitCode::timeout;
            failure.reason = fmt::format("connect to {}:{}: no WebSocket handshake within {}",
                                         m_host, m_port, core::format_duration(m_connect_timeout));
            m_failure = std::move(failure);
            kill();
        });
    }
}

int WsConnection::on_callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len) {
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        auto** position = static_cast<unsigned char**>(in);
        unsigned char* end = *position + len;
        auto add = [&](const std::string& name, const std::string& value) {
            const std::string field = name + ":";
            return lws_add_http_header_by_name(
                       wsi, reinterpret_cast<const unsigned char*>(field.c_str()),
                       reinterpret_cast<const unsigned char*>(value.data()),
                       static_cast<int>(value.size()), position, end) == 0;
        };
        if (!m_options->origin.empty() && !add("Origin", m_options->origin)) {
            return -1;
        }
        for (const auto& [name, value] : m_options->headers) {
            if (!add(name, value)) {
                return -1;
            }
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED:
        // Non-zero: do not offer it. Not with our own pings on lws's framing either: lws 4.1
        // spins on the loop after a pong arrives on a permessage-deflate connection (seen on
        // Debian's 4.1.6 with the libuv event lib), so there --ping-interval turns
        // compression off. With our own framing lws never sees the pong.
        return m_options->compress && (m_own || m_options->ping_interval.count() == 0) ? 0 : 1;
    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH: {
        // The last moment the response headers are readable.
        char subprotocol[256] = {};
        if (lws_hdr_copy(wsi, subprotocol, sizeof subprotocol, WSI_TOKEN_PROTOCOL) > 0) {
            m_chosen_subprotocol = subprotocol;
        }
        char extensions[512] = {};
        if (m_own && lws_hdr_copy(wsi, extensions, sizeof extensions, WSI_TOKEN_EXTENSIONS) > 0) {
            m_extensions_header = extensions; // for take_over()
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        m_wsi = wsi;
        on_established();
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(static_cast<const char*>(in), len);
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        note_pong();
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable();
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (m_taken_over) {
            return -1; // lws read past our end (see end_native()): it only has to close
        }
        on_peer_close(static_cast<const unsigned char*>(in), len);
        return 0; // lws answers with its close frame, then closes
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        m_wsi = wsi;
        on_connection_error(in == nullptr ? std::string_view{}
                            : len > 0     ? std::string_view(static_cast<const char*>(in), len)
                                          : std::string_view(static_cast<const char*>(in)));
        lws_set_opaque_user_data(wsi, nullptr); // lws frees the socket: no more callbacks
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        // CLIENT_CLOSED ends an open session; WSI_DESTROY is the last word on any socket:
        // if nothing finished us before, the connection was lost.
        on_closed();
        lws_set_opaque_user_data(wsi, nullptr);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, nullptr, in, len);
    }
}

void WsConnection::on_established() {
    m_connect_timer.reset(); // and its libuv handle: an open connection holds no deadline
    m_state = State::open;
    m_stats.connect_time = std::chrono::microseconds(now_us() - m_started_us);
    if (!m_chosen_subprotocol.empty()) {
        core::log_verbose("ws: subprotocol {}", m_chosen_subprotocol);
    } else if (!m_options->subprotocols.empty()) {
        core::log_verbose("ws: the server chose no subprotocol");
    }
    if (!m_extensions.empty()) {
        core::log_verbose("ws: compression on ({})", m_extensions);
    } else if (m_options->compress && !m_own && m_options->ping_interval.count() > 0) {
        core::log_verbose("ws: compression off (not offered with --ping-interval)");
    } else {
        core::log_verbose("ws: compression off (no extension negotiated)");
    }
    core::log_verbose("ws: connected to {} in {:.3f} ms", m_host,
                      static_cast<double>(m_stats.connect_time.count()) / 1000.0);
    if (m_options->ping_interval.count() > 0) {
        timer(m_ping_timer)
            .start(
                m_options->ping_interval, [this] { send_ping(); }, m_options->ping_interval);
    }
    if (m_own) {
        // Not now: bytes that came in the same read as the 101 response are in lws's own
        // buffer, and lws parses them from its next service (a loop timer or idle handle,
        // or right after this callback). A prepare handle runs after both and before the
        // loop's next read: lws has drained its buffer, and every later byte is ours.
        m_takeover_prepare = new uv_prepare_t{};
        m_takeover_prepare->data = this;
        uv_prepare_init(m_client.loop.native(), m_takeover_prepare);
        uv_prepare_start(m_takeover_prepare, [](uv_prepare_t* prepare) {
            auto* self = static_cast<WsConnection*>(prepare->data);
            self->stop_takeover_prepare();
            self->take_over();
        });
    }
    m_handler.on_open(*this);
    if (!m_own && (!m_queue.empty() || m_sending_finished)) {
        lws_callback_on_writable(m_wsi);
    }
}

void WsConnection::send_ping() {
    if (m_state != State::open || m_wsi == nullptr) {
        return;
    }
    if (m_taken_over) {
        const auto stamp = static_cast<std::uint64_t>(now_us());
        char payload[sizeof stamp];
        std::memcpy(payload, &stamp, sizeof stamp);
        queue_frame(proto::ws_opcode::ping, std::string_view(payload, sizeof payload));
        note_ping_sent(stamp);
        flush_native();
        return;
    }
    m_ping_due = true;
    if (!m_own) {
        lws_callback_on_writable(m_wsi);
    }
}

bool WsConnection::send_ping(std::string_view payload) {
    if (m_state != State::open || m_wsi == nullptr || !m_own || m_sending_finished) {
        return false;
    }
    if (!m_taken_over) {
        Outgoing& out = m_queue.emplace_back();
        out.frame = frame_for(payload.substr(0, 125));
        out.ping = true;
        return true;
    }
    // RFC 6455 section 5.5: a control frame carries at most 125 bytes.
    queue_frame(proto::ws_opcode::ping, payload.substr(0, 125));
    flush_native();
    return true;
}

void WsConnection::close_with(int code, const std::string& reason) {
    if (m_state == State::open && m_own) {
        // After what was sent before it, like stdin's end, and what the server still sends
        // before its close is delivered (RFC 6455 section 5.5.1).
        auto changed = std::make_shared<WsOptions>(*m_options); // shared: copy on write
        changed->close_code = code;
        changed->close_reason = reason.substr(0, 123);
        m_options = std::move(changed);
        finish_sending();
        return;
    }
    if (m_state == State::open) {
        start_close(code, reason.substr(0, 123));
        return;
    }
    close();
}

void WsConnection::note_ping_sent(std::uint64_t stamp) {
    m_ping_sent_us = static_cast<std::int64_t>(stamp);
    if (!m_awaiting_pong && m_options->ping_timeout.count() > 0) {
        timer(m_pong_timer).start(m_options->ping_timeout, [this] {
            CloseInfo failure;
            failure.exit_code = ExitCode::timeout;
            failure.reason = fmt::format("ws: no pong within {}",
                                         core::format_duration(m_options->ping_timeout));
            m_failure = std::move(failure);
            kill(); // a peer that does not answer pings will not answer a close either
        });
    }
    m_awaiting_pong = true;
}

void WsConnection::note_pong() {
    if (m_awaiting_pong) {
        m_awaiting_pong = false;
        if (m_pong_timer) {
            m_pong_timer->stop();
        }
        core::log_verbose("ws: pong after {:.3f} ms",
                          static_cast<double>(now_us() - m_ping_sent_us) / 1000.0);
    }
}

std::string WsConnection::frame_for(std::string_view payload) {
    std::string frame;
    if (!m_spare.empty()) {
        frame = std::move(m_spare.back());
        m_spare.pop_back();
    }
    frame.reserve(LWS_PRE + payload.size());
    frame.assign(LWS_PRE, '\0');
    frame.append(payload);
    return frame;
}

bool WsConnection::send(const Message& message) {
    if (m_state != State::open || m_sending_finished) {
        return false;
    }
    ++m_stats.messages_out;
    m_stats.bytes_out += message.payload.size();
    if (m_taken_over) {
        queue_frame(message.kind == PayloadKind::binary ? proto::ws_opcode::binary
                                                        : proto::ws_opcode::text,
                    message.payload);
        flush_native();
        return true;
    }
    // Nothing waits and the socket took everything so far: write now. Waiting for WRITEABLE
    // costs lws's libuv glue four epoll_ctl calls per message (POLLOUT on, then off, each a
    // poll stop and start), a fifth of the CPU of an echo. lws takes a write at any time:
    // what the socket does not take it keeps and sends first (lws_partial_buffered), and
    // without an extension it does not read our buffer after lws_write returns.
    if (!m_own && m_queue.empty() && m_extensions.empty() && !m_ping_due && !m_our_close &&
        m_wsi != nullptr && message.payload.size() <= k_fragment && !lws_partial_buffered(m_wsi)) {
        std::string frame = frame_for(message.payload);
        const auto mode = message.kind == PayloadKind::binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
        const int written =
            lws_write(m_wsi, reinterpret_cast<unsigned char*>(frame.data()) + LWS_PRE,
                      message.payload.size(), mode);
        recycle(std::move(frame));
        if (written < 0) {
            CloseInfo failure;
            failure.exit_code = ExitCode::connection_lost;
            failure.reason = "ws: write failed";
            m_failure = std::move(failure);
            kill();
        }
        return true;
    }
    Outgoing& out = m_queue.emplace_back();
    out.frame = frame_for(message.payload);
    out.binary = message.kind == PayloadKind::binary;
    m_queued_bytes += message.payload.size();
    if (m_queue.size() == 1 && !m_own) {
        lws_callback_on_writable(m_wsi); // own framing: take_over() sends the queue
    }
    return true;
}

int WsConnection::on_writeable() {
    if (m_wsi == nullptr) {
        return -1;
    }
    if (m_own) {
        return 0; // lws writes nothing of ours: take_over() and flush_native() do
    }
    if (m_failure && !m_our_close) {
        return -1; // kill(): drop the socket without a close frame
    }
    // With permessage-deflate lws may keep part of a write and send it from the next
    // WRITEABLE itself; any other write in this callback would be framed as a continuation
    // of it. So: one write per callback when an extension is active.
    int writes_left = m_extensions.empty() ? k_writes_per_turn : 1;
    // ... and until lws has drained such a write it reads the payload from our buffer: the
    // last message written is reused (or freed) only now, when lws hands WRITEABLE back.
    for (std::string& frame : m_retired) {
        recycle(std::move(frame));
    }
    m_retired.clear();
    // The first write of a WRITEABLE callback needs no check (lws says the socket takes
    // it); lws_send_pipe_choked() is a poll() system call, so only later writes pay for it.
    const int writes_allowed = writes_left;
    auto can_write_more = [&] {
        return writes_left > 0 && (writes_left == writes_allowed || !lws_send_pipe_choked(m_wsi));
    };
    if (m_ping_due) {
        m_ping_due = false;
        unsigned char ping[LWS_PRE + 8];
        const auto stamp = static_cast<std::uint64_t>(now_us());
        std::memcpy(ping + LWS_PRE, &stamp, sizeof stamp);
        if (lws_write(m_wsi, ping + LWS_PRE, sizeof stamp, LWS_WRITE_PING) < 0) {
            return -1;
        }
        --writes_left;
        note_ping_sent(stamp);
    }
    if (m_close_sent) {
        return 0; // after our close frame nothing more goes out
    }
    if (!m_our_close) {
        while (!m_queue.empty() && can_write_more()) {
            Outgoing& out = m_queue.front();
            const std::size_t left = out.frame.size() - out.sent;
            const std::size_t chunk = std::min(left, k_fragment);
            const bool last = chunk == left;
            int mode = out.started ? LWS_WRITE_CONTINUATION
                                   : (out.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
            if (!last) {
                mode |= LWS_WRITE_NO_FIN;
            }
            // lws writes the frame header into the LWS_PRE bytes before the chunk: for a
            // later fragment those are payload bytes already sent.
            auto* start = reinterpret_cast<unsigned char*>(out.frame.data()) + out.sent;
            if (lws_write(m_wsi, start, chunk, static_cast<lws_write_protocol>(mode)) < 0) {
                CloseInfo failure;
                failure.exit_code = ExitCode::connection_lost;
                failure.reason = "ws: write failed";
                m_failure = std::move(failure);
                return -1;
            }
            --writes_left;
            out.started = true;
            out.sent += chunk;
            m_queued_bytes -= chunk;
            if (last) {
                m_retired.push_back(std::move(out.frame));
                m_queue.pop_front();
            }
        }
        if (!m_queue.empty()) {
            lws_callback_on_writable(m_wsi);
            return 0;
        }
        m_handler.on_drain(*this);
        if (m_state != State::open || m_wsi == nullptr) {
            return 0; // the handler closed us; a WRITEABLE is already requested
        }
        if (!m_sending_finished && !m_our_close) {
            return 0;
        }
        if (!m_our_close) {
            m_our_close = std::pair{m_options->close_code, m_options->close_reason};
        }
    }
    if (!can_write_more()) {
        lws_callback_on_writable(m_wsi);
        return 0;
    }
    return send_close_frame();
}

void WsConnection::recycle(std::string&& frame) {
    if (m_spare.size() < k_spare_frames && frame.capacity() <= k_spare_frame_capacity) {
        frame.clear();
        m_spare.push_back(std::move(frame));
    }
    // else: the string goes out of scope in the caller (freed)
}

int WsConnection::send_close_frame() {
    // Our close frame goes out as a plain write: lws's own close (lws_close_reason and
    // return -1) would drop every data frame the server still sends before its close, and
    // RFC 6455 section 5.5.1 lets those arrive (`echo hi | rtx ws .../echo` needs the echo).
    // The server's close frame then ends the session (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE).
    std::string& reason = m_our_close->second;
    if (reason.size() > 123) {
        reason.resize(123);
    }
    unsigned char frame[LWS_PRE + 125];
    const auto code = static_cast<unsigned>(m_our_close->first);
    frame[LWS_PRE] = static_cast<unsigned char>(code >> 8);
    frame[LWS_PRE + 1] = static_cast<unsigned char>(code & 0xff);
    std::memcpy(frame + LWS_PRE + 2, reason.data(), reason.size());
    if (lws_write(m_wsi, frame + LWS_PRE, 2 + reason.size(), k_write_close) < 0) {
        return -1;
    }
    m_close_sent = true;
    m_state = State::closing;
    start_linger();
    return 0;
}

int WsConnection::on_receive(const char* data, std::size_t len) {
    if (m_state == State::closed) {
        return -1;
    }
    linger_for_printed_data();
    if (m_rx_overflow || m_discard_rx) {
        return 0; // closing on our side: the rest is not for the user any more
    }
    const bool first = lws_is_first_fragment(m_wsi) != 0;
    if (m_taken_over) {
        return -1; // lws read past our end (see end_native()): it only has to close
    }
    if (m_own) {
        // Parsed by lws before take_over(), which can take over only on a message boundary.
        m_window_messages += first ? 1 : 0;
        m_window_incomplete =
            !lws_is_final_fragment(m_wsi) || lws_remaining_packet_payload(m_wsi) > 0;
    }
    if (first) {
        m_rx.clear();
        m_rx_binary = lws_frame_is_binary(m_wsi) != 0;
    }
    const bool last = lws_is_final_fragment(m_wsi) && lws_remaining_packet_payload(m_wsi) == 0;
    if (first && last && len <= m_options->max_message) {
        // The whole message in one piece: hand over lws's buffer, no copy.
        ++m_stats.messages_in;
        m_stats.bytes_in += len;
        Message message{std::string_view(data, len),
                        m_rx_binary ? PayloadKind::binary : PayloadKind::text};
        m_handler.on_message(*this, message);
        return 0;
    }
    if (m_rx.size() + len > m_options->max_message) {
        CloseInfo failure;
        failure.exit_code = ExitCode::protocol_error;
        failure.protocol_code = ws_close::message_too_big;
        failure.reason = fmt::format("ws: received a message over the {} byte limit "
                                     "(--max-message)",
                                     m_options->max_message);
        m_failure = std::move(failure);
        m_rx.clear();
        m_rx.shrink_to_fit();
        m_rx_overflow = true;
        start_close(ws_close::message_too_big, "message too big");
        return 0;
    }
    m_rx.append(data, len);
    if (!last) {
        return 0;
    }
    ++m_stats.messages_in;
    m_stats.bytes_in += m_rx.size();
    Message message{m_rx, m_rx_binary ? PayloadKind::binary : PayloadKind::text};
    m_handler.on_message(*this, message);
    return 0;
}

void WsConnection::on_peer_close(const unsigned char* payload, std::size_t len) {
    if (len >= 2) {
        m_peer_close_code = (payload[0] << 8) | payload[1];
        m_peer_close_reason.assign(reinterpret_cast<const char*>(payload) + 2, len - 2);
    } else {
        m_peer_close_code = ws_close::no_status;
    }
}

void WsConnection::on_connection_error(std::string_view error) {
    if (m_state == State::closed) {
        return;
    }
    if (m_failure) {
        finish(*m_failure);
        return;
    }
    CloseInfo failure;
    std::string text(error.empty() ? "connection failed" : error);
    // lws counts the terminating NUL in `len` ("closed before established \0").
    while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) {
        text.pop_back();
    }
    const int status =
        m_wsi != nullptr ? static_cast<int>(lws_http_client_http_response(m_wsi)) : 0;
    if (status > 0 && status != 101) {
        failure.exit_code = ExitCode::http_status;
        failure.protocol_code = status;
        failure.reason = fmt::format("ws: {}:{} answered HTTP {} instead of 101 Switching "
                                     "Protocols",
                                     m_host, m_port, status);
    } else if (contains_any(text, {"ssl", "SSL", "tls", "TLS", "certificate", "x509"})) {
        failure.exit_code = ExitCode::tls_failed;
        failure.reason = fmt::format("tls: {}:{}: {}", m_host, m_port, text);
    } else if (contains_any(text, {"HS:", "upgrade", "accept", "protocol"})) {
        failure.exit_code = ExitCode::protocol_error;
        failure.reason = fmt::format("ws: {}:{}: handshake failed: {}", m_host, m_port, text);
    } else {
        failure.exit_code = ExitCode::connect_failed;
        // lws says little ("closed before established"): refused, reset or unreachable.
        failure.reason = fmt::format("connect to {}:{}: failed ({})", m_host, m_port, text);
    }
    finish(std::move(failure));
}

void WsConnection::on_closed() {
    if (m_state == State::closed) {
        return;
    }
    CloseInfo info;
    if (m_failure) {
        info = *m_failure; // our decision (1009, ping timeout, connect timeout) came first
    } else if (m_close_sent && !m_close_was_answer) {
        // We closed first; the server's close frame, if it came before --linger, is the ack.
        info.protocol_code = m_peer_close_code.value_or(m_our_close->first);
        info.reason = m_peer_close_code
                          ? fmt::format("ws: closed ({})", describe_close_code(m_our_close->first))
                          : fmt::format("ws: closed ({}); the server did not answer within {}",
                                        describe_close_code(m_our_close->first),
                                        core::format_duration(m_options->linger));
    } else if (m_peer_close_code) {
        const int code = *m_peer_close_code;
        info.by_peer = true;
        info.protocol_code = code;
        const bool clean =
            code == ws_close::normal || code == ws_close::going_away || code == ws_close::no_status;
        info.exit_code = clean ? ExitCode::ok : ExitCode::closed_abnormally;
        info.reason = fmt::format("ws: server closed: {}{}{}", describe_close_code(code),
                                  m_peer_close_reason.empty() ? "" : " ", m_peer_close_reason);
    } else {
        info.by_peer = true;
        info.exit_code = ExitCode::connection_lost;
        info.protocol_code = ws_close::abnormal;
        info.reason =
            fmt::format("ws: connection to {}:{} lost without a close frame", m_host, m_port);
    }
    finish(std::move(info));
}

void WsConnection::start_close(int code, std::string reason) {
    if (m_wsi == nullptr || m_state == State::closed) {
        return;
    }
    if (m_state != State::open) {
        kill();
        return;
    }
    if (!m_our_close) {
        m_our_close = std::pair{code, std::move(reason)};
    }
    m_discard_rx = true;
    m_queue.clear();
    m_queued_bytes = 0;
    if (m_taken_over) {
        if (!m_close_sent) {
            queue_close(m_our_close->first, m_our_close->second);
            flush_native();
        }
        return;
    }
    if (!m_own) {
        lws_callback_on_writable(m_wsi); // own framing: take_over() sends it
    }
}

void WsConnection::start_linger() {
    timer(m_linger_timer).start(m_options->linger, [this] { kill(); });
}

void WsConnection::linger_for_printed_data() {
    if (m_close_sent && !m_discard_rx && !m_rx_overflow && !m_reader_stopped) {
        start_linger();
    }
}

void WsConnection::kill() {
    if (m_wsi == nullptr || m_state == State::closed) {
        return;
    }
    if (m_taken_over) {
        end_native();
        return;
    }
    // Shutting the socket down makes lws see the end on its next poll and close the
    // connection through its usual path (CLIENT_CLOSED / CONNECTION_ERROR). lws 4.1's own
    // "kill async" timeout is not serviced promptly on a foreign libuv loop.
    const lws_sockfd_type fd = lws_get_socket_fd(m_wsi);
    if (fd >= 0) {
        ::shutdown(fd, SHUT_RDWR);
    } else {
        lws_set_timeout(m_wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

void WsConnection::finish_sending() {
    if (m_sending_finished) {
        return;
    }
    m_sending_finished = true;
    if (m_state != State::open || m_wsi == nullptr) {
        return;
    }
    if (m_taken_over) {
        // After what is queued (m_out is in order): RFC 6455 section 5.5.1 then keeps
        // reading until the server's close, and every message before it is delivered.
        if (!m_close_sent) {
            queue_close(m_options->close_code, m_options->close_reason);
            flush_native();
        }
        return;
    }
    if (!m_own) {
        lws_callback_on_writable(m_wsi);
    }
}

void WsConnection::close() {
    if (m_state == State::closed) {
        return;
    }
    if (m_state == State::connecting) {
        CloseInfo info;
        info.reason = "ws: closed before the handshake completed";
        m_failure = info;
        if (m_wsi != nullptr) {
            kill();
        } else {
            finish(std::move(info));
        }
        return;
    }
    if (m_state == State::open) {
        start_close(m_options->close_code, m_options->close_reason);
    }
}

void WsConnection::finish(CloseInfo info) {
    if (m_state == State::closed) {
        return;
    }
    const bool was_open = m_state == State::open || m_state == State::closing;
    m_state = State::closed;
    m_wsi = nullptr; // lws frees it after this callback
    for (auto* slot : {&m_connect_timer, &m_ping_timer, &m_pong_timer, &m_linger_timer}) {
        if (*slot) {
            (*slot)->stop();
        }
    }
    stop_takeover_prepare();
    release_native_io();
    m_queue.clear();
    m_queued_bytes = 0;
    info.was_open = was_open;
    timer(m_deliver_close).start(core::Duration{0}, [this, info = std::move(info)] {
        m_handler.on_close(*this, info); // last: the owner may destroy us
    });
}

// --- own framing ------------------------------------------------------------------------------

namespace {

/// The parameters of the server's permessage-deflate answer (RFC 7692 section 7.1).
struct DeflateParameters {
    bool negotiated = false;
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    int client_max_window_bits = 15;
};

DeflateParameters parse_deflate(std::string_view header) {
    DeflateParameters parameters;
    // "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    if (header.find("permessage-deflate") == std::string_view::npos) {
        return parameters;
    }
    parameters.negotiated = true;
    parameters.server_no_context_takeover =
        header.find("server_no_context_takeover") != std::string_view::npos;
    parameters.client_no_context_takeover =
        header.find("client_no_context_takeover") != std::string_view::npos;
    constexpr std::string_view bits = "client_max_window_bits=";
    if (auto at = header.find(bits); at != std::string_view::npos) {
        int value = 0;
        for (std::size_t i = at + bits.size();
             i < header.size() && header[i] >= '0' && header[i] <= '9'; ++i) {
            value = value * 10 + (header[i] - '0');
        }
        if (value >= 8 && value <= 15) {
            parameters.client_max_window_bits = value;
        }
    }
    return parameters;
}

std::uint32_t mask_key() {
    // RFC 6455 section 5.3: a fresh, unpredictable key per frame.
    std::uint32_t key = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&key), sizeof key);
    return key;
}

/// How long to wait for the server's close after we failed the connection for a protocol
/// error (RFC 6455 section 7.1.7): briefly, since its frames can no longer be told apart.
constexpr auto k_violation_linger = std::chrono::seconds(1);

} // namespace

void WsConnection::take_over() {
    if (m_state != State::open || m_wsi == nullptr || m_peer_close_code) {
        return; // lws is closing it already
    }
    const DeflateParameters deflate = parse_deflate(m_extensions_header);
    if (m_window_incomplete ||
        (m_window_messages > 0 && deflate.negotiated && !deflate.server_no_context_takeover)) {
        // lws parsed part of a message that came with the 101 response, or inflated messages
        // whose history its inflater keeps out of our reach: this connection keeps lws's
        // framing.
        core::log_verbose("ws: messages arrived with the handshake; lws keeps the framing");
        m_own = false;
        drop_queued_pings();
        if (!m_queue.empty() || m_sending_finished || m_our_close || m_ping_due) {
            lws_callback_on_writable(m_wsi);
        }
        return;
    }
    const int fd = lws_get_socket_fd(m_wsi);
    m_fd = fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (m_fd < 0) {
        m_own = false; // lws's framing, as bench has it
        drop_queued_pings();
        if (!m_queue.empty() || m_sending_finished || m_our_close || m_ping_due) {
            lws_callback_on_writable(m_wsi);
        }
        return;
    }
    const int one = 1;
    ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    m_ssl = static_cast<SSL*>(lws_get_ssl(m_wsi));
    if (m_ssl != nullptr) {
        SSL_set_mode(m_ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    lws_rx_flow_control(m_wsi, 0);
    proto::WsReaderOptions reader;
    reader.max_message = m_options->max_message;
    reader.deflate = deflate.negotiated;
    reader.peer_no_context_takeover = deflate.server_no_context_takeover;
    m_reader = std::make_unique<proto::WsReader>(reader);
    if (deflate.negotiated) {
        m_deflater = std::make_unique<proto::WsDeflater>(deflate.client_max_window_bits,
                                                         deflate.client_no_context_takeover);
    }
    m_poll = new uv_poll_t{};
    m_poll->data = this;
    uv_poll_init_socket(m_client.loop.native(), m_poll, m_fd);
    m_taken_over = true;
    core::log_debug("ws: framing taken over from lws");
    // What waited for us, in order: messages, a ping, then a close.
    while (!m_queue.empty()) {
        Outgoing& out = m_queue.front();
        queue_frame(out.ping     ? proto::ws_opcode::ping
                    : out.binary ? proto::ws_opcode::binary
                                 : proto::ws_opcode::text,
                    std::string_view(out.frame).substr(LWS_PRE));
        m_queue.pop_front();
    }
    m_queued_bytes = 0;
    if (m_ping_due) {
        m_ping_due = false;
        send_ping();
    }
    if (m_our_close) {
        queue_close(m_our_close->first, m_our_close->second);
    } else if (m_sending_finished) {
        queue_close(m_options->close_code, m_options->close_reason);
    }
    update_poll();
    flush_native();
    if (m_ssl != nullptr && !m_native_done) {
        read_native(); // records lws's TLS session already holds
    }
}

void WsConnection::drop_queued_pings() {
    // lws's framing has no way to send them in order: a user's ping is dropped (rare: only
    // when take_over() is not possible).
    for (std::size_t left = m_queue.size(); left > 0; --left) {
        Outgoing out = std::move(m_queue.front());
        m_queue.pop_front();
        if (!out.ping) {
            m_queue.emplace_back(std::move(out));
        }
    }
}

void WsConnection::update_poll() {
    if (m_poll == nullptr) {
        return;
    }
    int events = m_receive_paused ? 0 : UV_READABLE;
    if (m_out_sent < m_out.size()) {
        events |= UV_WRITABLE;
    }
    uv_poll_start(m_poll, events, [](uv_poll_t* poll, int status, int ready) {
        auto* self = static_cast<WsConnection*>(poll->data);
        if (status < 0) {
            self->end_native(); // no close frame: "lost" unless the close handshake was done
            return;
        }
        if (ready & UV_WRITABLE) {
            self->flush_native();
        }
        if ((ready & UV_READABLE) && !self->m_native_done) {
            self->read_native();
        }
    });
}

void WsConnection::read_native() {
    static thread_local char buffer[64 * 1024];
    // A bounded number of reads per turn keeps the loop fair to stdin and timers.
    for (int reads = 0; reads < 16 && !m_native_done && !m_receive_paused; ++reads) {
        const ws::SocketRead got = ws::read_socket(m_fd, m_ssl, buffer, sizeof buffer);
        if (got.status == ws::SocketRead::would_block) {
            break;
        }
        if (got.status == ws::SocketRead::end) {
            end_native(); // close_notify, EOF or an error: the socket is done
            return;
        }
        on_native_bytes(std::string_view(buffer, got.size));
        if (m_ssl == nullptr && got.size < sizeof buffer) {
            break; // the socket is empty for now
        }
    }
    flush_native(); // pongs and echoes of this read, in one write
}

void WsConnection::on_native_bytes(std::string_view bytes) {
    linger_for_printed_data(); // once per read, not again per message it holds
    if (m_reader_stopped || m_reader->closed()) {
        return; // after a violation or the server's close only the end of TCP matters
    }
    if (auto violation = m_reader->feed(bytes, *this)) {
        fail_protocol(*violation);
    }
}

void WsConnection::fail_protocol(const proto::WsViolation& violation) {
    m_reader_stopped = true;
    if (m_failure) {
        return;
    }
    CloseInfo failure;
    failure.exit_code = ExitCode::protocol_error;
    failure.protocol_code = violation.close_code;
    failure.reason =
        violation.close_code == ws_close::message_too_big
            ? fmt::format("ws: received a message over the {} byte limit (--max-message)",
                          m_options->max_message)
            : fmt::format("ws: protocol error: the server sent {}; closing with {}", violation.what,
                          describe_close_code(violation.close_code));
    m_failure = std::move(failure);
    m_discard_rx = true;
    if (!m_close_sent) {
        // RFC 6455 section 7.1.7: fail the connection with a close frame of our own.
        const char* reason = violation.close_code == ws_close::message_too_big ? "message too big"
                             : violation.close_code == ws_close::invalid_payload
                                 ? "invalid payload data"
                                 : "protocol error";
        queue_close(violation.close_code, reason);
    }
    timer(m_linger_timer)
        .start(std::min<core::Duration>(m_options->linger, k_violation_linger), [this] { kill(); });
}

void WsConnection::queue_frame(int opcode, std::string_view payload) {
    const bool data = opcode == proto::ws_opcode::text || opcode == proto::ws_opcode::binary;
    // One frame per message, however large: the fewest frames and writes (the socket takes
    // what it can; the rest waits in m_out for POLLOUT).
    if (data && m_deflater && !payload.empty()) {
        proto::append_ws_frame(m_out, opcode, m_deflater->compress(payload), true, true,
                               mask_key());
        return;
    }
    proto::append_ws_frame(m_out, opcode, payload, true, false, mask_key());
}

void WsConnection::queue_close(int code, std::string_view reason) {
    reason = reason.substr(0, 123); // RFC 6455 section 5.5: 125 bytes with the code
    std::string payload;
    payload.push_back(static_cast<char>((code >> 8) & 0xFF));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason);
    proto::append_ws_frame(m_out, proto::ws_opcode::close, payload, true, false, mask_key());
    m_our_close = std::pair{code, std::string(reason)};
    m_close_sent = true;
    m_state = State::closing;
    start_linger();
}

void WsConnection::flush_native() {
    if (!m_taken_over || m_native_done) {
        return;
    }
    const bool had_output = m_out_sent < m_out.size();
    while (m_out_sent < m_out.size()) {
        const char* start = m_out.data() + m_out_sent;
        const std::size_t left = m_out.size() - m_out_sent;
        ssize_t wrote = 0;
        if (m_ssl != nullptr) {
            ERR_clear_error();
            wrote = SSL_write(m_ssl, start, static_cast<int>(std::min<std::size_t>(left, 1 << 30)));
            if (wrote <= 0) {
                const int error = SSL_get_error(m_ssl, static_cast<int>(wrote));
                if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
                    break;
                }
                end_native();
                return;
            }
        } else {
            wrote = ::send(m_fd, start, left, MSG_NOSIGNAL);
            if (wrote < 0 && errno == EINTR) {
                continue;
            }
            if (wrote < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            }
            if (wrote < 0) {
                end_native();
                return;
            }
        }
        m_out_sent += static_cast<std::size_t>(wrote);
    }
    if (m_out_sent == m_out.size()) {
        m_out.clear();
        m_out_sent = 0;
        if (m_out.capacity() > 4 * 1024 * 1024) {
            std::string().swap(m_out);
        }
    }
    update_poll();
    if (m_out_sent != 0 || !m_out.empty()) {
        return;
    }
    if (m_end_after_flush) {
        end_native();
        return;
    }
    if (had_output && m_state == State::open) {
        m_handler.on_drain(*this);
    }
}

void WsConnection::on_ws_message(bool binary, std::string_view payload) {
    if (m_discard_rx) {
        return; // closing on our side: the rest is not for the user any more
    }
    ++m_stats.messages_in;
    m_stats.bytes_in += payload.size();
    Message message{payload, binary ? PayloadKind::binary : PayloadKind::text};
    m_handler.on_message(*this, message);
}

void WsConnection::on_ws_ping(std::string_view payload) {
    // RFC 6455 section 5.5.2: every ping is answered, at once and in order, before any
    // message the same read delivers; after our close frame nothing more goes out.
    if (!m_close_sent) {
        queue_frame(proto::ws_opcode::pong, payload);
    }
}

void WsConnection::on_ws_pong(std::string_view) {
    note_pong();
}

void WsConnection::on_ws_close(std::optional<int> code, std::string_view reason) {
    m_peer_close_code = code.value_or(ws_close::no_status);
    m_peer_close_reason.assign(reason);
    if (!m_close_sent) {
        // RFC 6455 section 5.5.1: answer with a close frame, echoing the status code.
        m_close_was_answer = true;
        if (code) {
            queue_close(*code, {});
        } else {
            proto::append_ws_frame(m_out, proto::ws_opcode::close, {}, true, false, mask_key());
            m_close_sent = true;
            m_state = State::closing;
        }
    }
    m_end_after_flush = true;
}

void WsConnection::end_native() {
    if (m_native_done) {
        return;
    }
    m_native_done = true;
    if (m_linger_timer) {
        m_linger_timer->stop();
    }
    release_native_io();
    if (m_wsi == nullptr || m_state == State::closed) {
        return;
    }
    // lws reads again and finds the end of the socket: it closes the connection through its
    // usual path (CLIENT_CLOSED), where on_closed() says why from what we recorded.
    const lws_sockfd_type fd = lws_get_socket_fd(m_wsi);
    if (fd >= 0) {
        ::shutdown(fd, SHUT_RDWR);
    }
    lws_rx_flow_control(m_wsi, 1);
    lws_set_timeout(m_wsi, PENDING_TIMEOUT_USER_OK, 1); // a backstop only
}

void WsConnection::stop_takeover_prepare() {
    if (m_takeover_prepare != nullptr) {
        uv_prepare_stop(m_takeover_prepare);
        uv_close(reinterpret_cast<uv_handle_t*>(m_takeover_prepare),
                 [](uv_handle_t* handle) { delete reinterpret_cast<uv_prepare_t*>(handle); });
        m_takeover_prepare = nullptr;
    }
}

void WsConnection::release_native_io() {
    stop_takeover_prepare();
    if (m_poll != nullptr) {
        uv_poll_stop(m_poll);
        uv_close(reinterpret_cast<uv_handle_t*>(m_poll),
                 [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
        m_poll = nullptr;
    }
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    m_ssl = nullptr; // lws's: it frees it
}

} // namespace rtx::transport
