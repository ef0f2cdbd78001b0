#include "serve/http/http_listener.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "serve/http/http_format.hpp"
#include "serve/http/pages.hpp"
#include "serve/http/poll_exchange.hpp"
#include "serve/http/publish_exchange.hpp"
#include "serve/http/replay_exchange.hpp"
#include "serve/http/stream_exchange.hpp"
#include "serve/http/whip_exchange.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

namespace rtx::serve::http {

namespace {

constexpr char k_protocol_name[] = "rtx-http";

/// What a stream subscriber may fall behind before it is dropped: enough for the largest
/// replay the hub keeps for a topic (4 MiB of payload) and a few of the largest messages.
std::size_t max_queued_for(std::size_t max_body) {
    return std::max<std::size_t>(8 * 1024 * 1024, 4 * max_body);
}

/// A header lws has no token for; `name` is lower case with its colon: "last-event-id:".
std::optional<std::string> custom_header(lws* wsi, std::string_view name) {
    const int name_length = static_cast<int>(name.size());
    const int length = lws_hdr_custom_length(wsi, name.data(), name_length);
    if (length < 0) {
        return std::nullopt;
    }
    std::string value(static_cast<std::size_t>(length) + 1, '\0');
    const int copied = lws_hdr_custom_copy(wsi, value.data(), length + 1, name.data(), name_length);
    if (copied < 0) {
        return std::nullopt;
    }
    value.resize(static_cast<std::size_t>(copied));
    return value;
}

/// A path as it may appear in a one-line error message.
std::string printable(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 200)) {
        out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
    }
    return out;
}

std::string_view method_name(int method) {
    switch (method) {
    case LWSHUMETH_GET:
        return "GET";
    case LWSHUMETH_POST:
        return "POST";
    case LWSHUMETH_OPTIONS:
        return "OPTIONS";
    case LWSHUMETH_PUT:
        return "PUT";
    case LWSHUMETH_PATCH:
        return "PATCH";
    case LWSHUMETH_DELETE:
        return "DELETE";
    case LWSHUMETH_HEAD:
        return "HEAD";
    default:
        return "this method";
    }
}

Response page(std::string_view html) {
    Response response;
    response.content_type = "text/html; charset=utf-8";
    response.body = std::string(html);
    return response;
}

} // namespace

/// The parts of a request the endpoints read, copied out of lws's header storage.
struct HttpListener::Request {
    int method = -1;                                       ///< LWSHUMETH_*
    std::vector<std::pair<std::string, std::string>> args; ///< Percent-decoded by lws.
    bool args_too_long = false;
    bool head = false;
    /// Content-Length; nullopt when absent. `bad_length`: present but not a number.
    std::optional<std::uint64_t> content_length;
    bool bad_length = false;
    bool chunked = false; ///< Any Transfer-Encoding (lws reads only Content-Length bodies).
    std::optional<std::string> last_event_id;
    PushRequest push; ///< The headers the mock push service reads (no body yet).

    std::optional<std::string_view> arg(std::string_view name) const {
        for (const auto& [key, value] : args) {
            if (key == name) {
                return std::string_view(value);
            }
        }
        return std::nullopt;
    }
    /// A body comes with the request (which must be read, or the connection closed).
    bool has_body() const { return chunked || bad_length || content_length.value_or(0) > 0; }
};

/// Writes the answers that go out at once, and says what the connection does next.
class HttpListener::Replier {
public:
    Replier(lws* wsi, const Request& request, bool closing)
        : m_wsi(wsi)
        , m_head(request.head)
        // A body we do not read would be taken for the next request: close after answering.
        , m_close(closing || request.head || request.has_body()) {}

    Next operator()(Response response) const {
        response.close = response.close || m_close;
        if (m_head) {
            response.body.clear(); // a HEAD response has no body
        }
        if (!write_response(m_wsi, response) || response.close) {
            return Next::close;
        }
        return Next::done;
    }
    Next bad_request(std::string_view message) const {
        return (*this)(error_response(400, fmt::format("bad request: {}", message)));
    }
    Next unavailable(const core::Error& error) const {
        Response response = error_response(503, error.message);
        response.headers.emplace_back("retry-after", "1");
        return (*this)(std::move(response));
    }

private:
    lws* m_wsi;
    bool m_head;
    bool m_close;
};

HttpListener::Request HttpListener::read_request(lws* wsi) {
    Request request;
    char* uri = nullptr;
    int uri_length = 0;
    request.method = lws_http_get_uri_and_method(wsi, &uri, &uri_length);
    request.head = request.method == LWSHUMETH_HEAD;
    char buffer[2048];
    for (int index = 0;; ++index) {
        const int length =
            lws_hdr_copy_fragment(wsi, buffer, sizeof(buffer), WSI_TOKEN_HTTP_URI_ARGS, index);
        if (length < 0) {
            request.args_too_long =
                lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, index) > 0;
            break;
        }
        std::string_view fragment(buffer, static_cast<std::size_t>(length));
        const std::size_t equals = fragment.find('=');
        request.args.emplace_back(std::string(fragment.substr(0, equals)),
                                  equals == std::string_view::npos
                                      ? std::string()
                                      : std::string(fragment.substr(equals + 1)));
    }
    if (auto text = request_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)) {
        request.content_length = parse_id(trim_blanks(*text));
        request.bad_length = !request.content_length;
    }
    request.chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    request.last_event_id = custom_header(wsi, "last-event-id:");
    request.push.host = request_header(wsi, WSI_TOKEN_HOST).value_or("");
    request.push.content_encoding = request_header(wsi, WSI_TOKEN_HTTP_CONTENT_ENCODING);
    request.push.authorization = request_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    request.push.ttl = custom_header(wsi, "ttl:");
    request.push.urgency = custom_header(wsi, "urgency:");
    request.push.topic = custom_header(wsi, "topic:");
    request.push.prefer = custom_header(wsi, "prefer:");
    request.push.push_receipt = custom_header(wsi, "push-receipt:");
    return request;
}

HttpListener::HttpListener(core::Loop& loop, LwsContext& lws, Hub& hub, HttpListenerOptions options)
    : m_loop(loop)
    , m_lws(lws)
    , m_hub(hub)
    , m_options(options)
    , m_heartbeat(loop)
    , m_push_timer(loop)
    , m_push(hub) {
    m_push.set_fault(m_options.push_fault);
    CorsPolicy::install(&m_cors);
    // A subscriber of push/{id} is the user agent connecting: what waits for it is
    // published on the next loop turn, once the new subscriber is set up.
    m_hub.set_subscribe_hook([this](std::string_view topic) {
        if (topic.starts_with("push/") && m_push.has_pending() && !m_shutting_down) {
            m_push_timer.start(core::Duration{0}, [this] { run_push_timer(); });
        }
    });
    lws_protocols protocol{};
    protocol.name = k_protocol_name;
    protocol.callback = &HttpListener::callback;
    protocol.user = this;
    // A WebSocket upgrade through a mount stays bound to this (the first) protocol, and lws
    // allocates each upgraded connection a receive buffer of this size (0 would mean
    // pt_serv_buf_size, 64 KiB) that it keeps for the connection's life. lws's framing never
    // delivers a message of ours: from the first loop turn after the handshake the frames
    // are WsSession's, and a frame lws parsed before that fails the connection (1002, see
    // WsListener's LWS_CALLBACK_RECEIVE). So the buffer only has to hold what lws answers
    // itself before then, a control frame (at most 125 bytes): 128 bytes instead of 4 KiB
    // per idle connection (docs/benchmarks.md). lws's writes are sized by tx_packet_size.
    protocol.rx_buffer_size = 128;
    m_lws.add_protocol(protocol);
    m_lws.add_busy_check([this] { return !m_exchanges.empty() || !m_closing.empty(); });
    m_heartbeat.start(
        m_options.heartbeat,
        [this] {
            for (auto& [wsi, exchange] : m_exchanges) {
                exchange->on_heartbeat();
            }
        },
        m_options.heartbeat);
    m_detach_hook = m_loop.add_before_poll_hook([this] { detach_held_headers(); });
}

HttpListener::~HttpListener() {
    CorsPolicy::install(nullptr);
    m_hub.set_subscribe_hook(nullptr);
    m_loop.remove_before_poll_hook(m_detach_hook);
}

std::int64_t HttpListener::unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void HttpListener::run_push_timer() {
    const std::int64_t now = unix_ms();
    m_push.flush(now);
    arm_push_timer(now);
}

void HttpListener::arm_push_timer(std::int64_t now) {
    // Expiry ends pending messages (and sends their 410 receipts) on time, not at the next
    // request; a flush already due keeps its turn.
    if (m_push_timer.active() || m_shutting_down) {
        return;
    }
    if (auto expiry = m_push.next_expiry()) {
        m_push_timer.start(std::chrono::milliseconds(std::max<std::int64_t>(0, *expiry - now)),
                           [this] { run_push_timer(); });
    }
}

Next HttpListener::held(lws* wsi, Next next) {
    if (next == Next::wait) {
        m_detach_soon.push_back(wsi);
    }
    return next;
}

void HttpListener::detach_held_headers(lws* reading) {
    // lws 4.1 frees header storage by searching its list of all the storage in use, newest
    // first. Held polls used to detach theirs from their first writeable callback, which
    // comes after up to 48 x 1024 events of one libuv poll phase: with 10,000 polls
    // re-requested after every publish, thousands were attached at once and the searches
    // took 25 % of serve's CPU. Detached here as soon as lws is done with them (at the next
    // request of any connection, or before the loop polls again), newest first, each is
    // found within the first few entries.
    for (auto it = m_detach_soon.rbegin(); it != m_detach_soon.rend(); ++it) {
        if (*it == reading) {
            continue; // its storage now holds the request being read
        }
        if (auto found = m_exchanges.find(*it); found != m_exchanges.end()) {
            found->second->detach_headers();
        }
    }
    m_detach_soon.clear();
}

std::string HttpListener::url() const {
    return (m_lws.secure() ? "https://" : "http://") + m_lws.bound().authority();
}

void HttpListener::set_index_listeners(std::span<const PageEndpoint> listeners) {
    m_index_page = index_page(listeners);
}

void HttpListener::shutdown() {
    m_shutting_down = true;
    m_heartbeat.stop();
    m_push_timer.stop(); // pending pushes must not hold the loop open
    for (auto& [wsi, exchange] : m_exchanges) {
        exchange->begin_shutdown();
    }
}

int HttpListener::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                           std::size_t len) {
    const lws_protocols* protocol = wsi != nullptr ? lws_get_protocol(wsi) : nullptr;
    auto* self = protocol != nullptr ? static_cast<HttpListener*>(protocol->user) : nullptr;
    if (self == nullptr) {
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    try {
        return self->on_callback(wsi, reason, user, in, len);
    } catch (const std::exception& e) {
        core::log_verbose("http: dropping a connection: {}", e.what());
        return -1;
    }
}

int HttpListener::on_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                              std::size_t len) {
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return dispatch(wsi, on_request(wsi, std::string_view(static_cast<const char*>(in), len)));
    case LWS_CALLBACK_HTTP_BODY: {
        auto it = m_exchanges.find(wsi);
        if (it == m_exchanges.end()) {
            return 0;
        }
        return dispatch(wsi,
                        it->second->on_body(std::string_view(static_cast<const char*>(in), len)));
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return forward(wsi, &Exchange::on_body_complete);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return forward(wsi, &Exchange::on_writeable);
    case LWS_CALLBACK_WSI_CREATE:
        m_connections.emplace(wsi, false);
        break;
    case LWS_CALLBACK_TIMER: {
        // From LwsContext: no request headers within the header timeout, after accept (408)
        // or after the previous response (an idle keep-alive connection: just close).
        if (m_exchanges.contains(wsi)) {
            return 0; // a request came meanwhile
        }
        auto it = m_connections.find(wsi);
        if (it != m_connections.end() && !it->second) {
            core::log_debug("http: request headers did not come in time");
            return LwsContext::answer_header_timeout(wsi);
        }
        return -1;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        forget(wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        m_connections.erase(wsi);
        forget(wsi);
        break;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return -1; // no WebSocket endpoint on these paths: hang up
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int HttpListener::forward(lws* wsi, Next (Exchange::*call)()) {
    auto it = m_exchanges.find(wsi);
    if (it == m_exchanges.end()) {
        return 0;
    }
    return dispatch(wsi, ((*it->second).*call)());
}

int HttpListener::dispatch(lws* wsi, Next next) {
    switch (next) {
    case Next::wait:
        return 0;
    case Next::done:
        m_exchanges.erase(wsi);
        if (!m_shutting_down && m_lws.complete_transaction(wsi) == 0) {
            return 0; // keep-alive: the connection waits for the next request
        }
        break;
    case Next::close:
        m_exchanges.erase(wsi);
        break;
    }
    m_closing.insert(wsi);
    return -1;
}

void HttpListener::forget(lws* wsi) {
    m_exchanges.erase(wsi);
    if (!m_detach_soon.empty()) {
        std::erase(m_detach_soon, wsi); // a new connection may get the same address
    }
    m_closing.erase(wsi);
    m_cors.forget(wsi);
    if (m_shutting_down) {
        m_lws.notify_idle();
    }
}

Next HttpListener::on_request(lws* wsi, std::string_view path) {
    // lws has returned from the callbacks of the streams and polls started before this
    // request (it serves one connection at a time): their header storage can go.
    detach_held_headers(wsi);
    m_connections[wsi] = true;
    m_closing.erase(wsi);
    m_exchanges.erase(wsi);

    const Request request = read_request(wsi);
    m_cors.on_request(wsi);
    const Replier reply(wsi, request, m_shutting_down);
    if (m_shutting_down) {
        return reply(error_response(503, "rtx serve is shutting down"));
    }
    if (path == "/stats" && m_options.faults != nullptr && request.method == LWSHUMETH_GET) {
        Response response; // --fault's counters, connections and messages per protocol
        response.content_type = "application/json";
        response.body = m_options.faults->stats_json();
        response.headers.emplace_back("cache-control", "no-store");
        return reply(std::move(response));
    }
    // --route: a path of the user's choosing, before the built-in ones.
    const CustomRoute* custom = find_custom_route(m_options.routes, path);
    const Route route = custom != nullptr ? custom_endpoint(*custom) : http::route(path);
    core::log_debug("http: {} {}", method_name(request.method), printable(path));
    if (route.endpoint == Endpoint::not_found) {
        return reply(error_response(404, fmt::format("not found: {}", printable(path))));
    }
    const std::string allowed =
        custom != nullptr ? custom->allow_header() : std::string(allowed_methods(route.endpoint));
    if (request.method == LWSHUMETH_OPTIONS) {
        // CORS preflight (and plain OPTIONS): what the path allows.
        Response response;
        response.status = 204;
        response.headers.emplace_back("allow", allowed);
        response.headers.emplace_back("access-control-allow-methods", allowed);
        response.headers.emplace_back("access-control-allow-headers",
                                      std::string(CorsPolicy::k_allow_headers));
        response.headers.emplace_back("access-control-max-age", "86400");
        return reply(std::move(response));
    }
    // --auth: everything but the preflight (which browsers send without credentials) and
    // the mock push service (its Authorization is VAPID's); with --auth-publish-only, only
    // publishing.
    const AccessOptions& access = m_options.access;
    const bool guarded = route.endpoint != Endpoint::push &&
                         (!access.publish_only || route.endpoint == Endpoint::publish);
    if (guarded && !authorized(access, request_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION),
                               request.arg("access_token"))) {
        core::log_verbose("http: {} {}: 401 (no valid credentials)", method_name(request.method),
                          printable(path));
        Response response = error_response(401, "unauthorized: credentials needed (--auth)");
        response.headers.emplace_back("www-authenticate", www_authenticate(access));
        return reply(std::move(response));
    }
    const int wanted = route.endpoint == Endpoint::publish ? LWSHUMETH_POST : LWSHUMETH_GET;
    const bool push_method =
        (route.endpoint == Endpoint::push || route.endpoint == Endpoint::whip) &&
        (request.method == LWSHUMETH_POST || request.method == LWSHUMETH_DELETE);
    const bool method_ok = custom != nullptr ? custom->allows(method_name(request.method))
                                             : request.method == wanted || push_method;
    if (!method_ok) {
        Response response =
            error_response(405, fmt::format("method not allowed: {} {} (allowed: {})",
                                            method_name(request.method), printable(path), allowed));
        response.headers.emplace_back("allow", allowed);
        return reply(std::move(response));
    }
    if (request.args_too_long) {
        return reply.bad_request("a query argument is too long");
    }
    switch (route.endpoint) {
    case Endpoint::index:
        return reply(page(m_index_page));
    case Endpoint::eventsource_page:
        return reply(page(eventsource_page()));
    case Endpoint::websocket_page:
        return reply(page(websocket_page()));
    case Endpoint::push_page:
        return reply(page(push_page()));
    case Endpoint::webrtc_page:
        return reply(page(webrtc_page()));
    default:
        break;
    }
    if (route.topic.empty()) {
        return reply.bad_request(fmt::format("no topic: use {}{{topic}}", printable(path)));
    }
    if (!core::is_valid_utf8(route.topic)) {
        return reply.bad_request("the topic is not UTF-8");
    }
    switch (route.endpoint) {
    case Endpoint::sse:
    case Endpoint::stream:
        if (custom != nullptr && request.method == LWSHUMETH_POST) {
            // Not held(): the body is read first; the exchange detaches the headers itself.
            return start_replay(wsi, request, *custom, reply);
        }
        return held(wsi, start_stream(wsi, request, route, reply));
    case Endpoint::poll:
        return held(wsi, start_poll(wsi, request, route.topic, reply));
    case Endpoint::publish:
        return start_publish(wsi, request, route.topic, reply);
    case Endpoint::push:
        return start_push(wsi, request, route.topic, reply);
    case Endpoint::whip:
        return start_whip(wsi, request, route.topic, reply);
    default:
        return reply(error_response(404, fmt::format("not found: {}", printable(path))));
    }
}

std::unique_ptr<fault::ConnectionFaults>
HttpListener::open_faults(fault::Protocol protocol, Next& refused, const Replier& reply) {
    if (m_options.faults == nullptr) {
        return nullptr;
    }
    auto faults = m_options.faults->open(protocol);
    if (faults->refused()) {
        Response response = error_response(503, "service unavailable (--fault refuse): try again");
        response.headers.emplace_back("retry-after", "1");
        refused = reply(std::move(response));
        return nullptr;
    }
    return faults;
}

Next HttpListener::start_stream(lws* wsi, const Request& request, const Route& route,
                                const Replier& reply) {
    auto format = StreamExchange::Format::sse;
    std::optional<std::uint64_t> after;
    if (route.endpoint == Endpoint::sse) {
        // The header (a reconnecting EventSource) wins over the query (the first connection,
        // whose URL a reconnect repeats). A header that is not one of our ids (it came from
        // another server) is ignored: the client gets the live stream.
        if (request.last_event_id) {
            after = parse_id(trim_blanks(*request.last_event_id));
        } else if (auto query = request.arg("lastEventId")) {
            after = parse_id(*query);
            if (!after) {
                return reply.bad_request("lastEventId must be a message id (digits)");
            }
        }
    } else {
        const std::string_view name = request.arg("format").value_or("text");
        if (name == "ndjson") {
            format = StreamExchange::Format::ndjson;
        } else if (name == "text") {
            format = StreamExchange::Format::text;
        } else {
            return reply.bad_request("format must be text or ndjson");
        }
        if (auto since = request.arg("since")) {
            after = parse_id(*since);
            if (!after) {
                return reply.bad_request("since must be a message id (digits)");
            }
        }
    }
    Next refused = Next::wait;
    auto faults = open_faults(route.endpoint == Endpoint::sse ? fault::Protocol::sse
                                                              : fault::Protocol::stream,
                              refused, reply);
    if (refused != Next::wait) {
        return refused;
    }
    auto exchange = std::make_unique<StreamExchange>(
        wsi, format, max_queued_for(m_options.max_body), std::move(faults));
    auto started = exchange->start(m_hub, route.topic, after, m_options.sse_retry);
    if (!started) {
        if (started.error().code == core::ExitCode::connection_lost) {
            return Next::close;
        }
        return reply.unavailable(started.error());
    }
    m_exchanges.emplace(wsi, std::move(exchange));
    return Next::wait;
}

Route HttpListener::custom_endpoint(const CustomRoute& custom) {
    switch (custom.kind) {
    case RouteKind::sse:
        return Route{Endpoint::sse, custom.topic};
    case RouteKind::stream:
        return Route{Endpoint::stream, custom.topic};
    case RouteKind::poll:
        return Route{Endpoint::poll, custom.topic};
    case RouteKind::publish:
        return Route{Endpoint::publish, custom.topic};
    case RouteKind::ws:
        break; // upgrades go to the WebSocket listener; a plain GET is not found
    }
    return Route{};
}

Next HttpListener::start_replay(lws* wsi, const Request& request, const CustomRoute& custom,
                                const Replier& reply) {
    auto recording = m_options.recordings.find(custom.topic);
    if (recording == m_options.recordings.end()) {
        return reply(error_response(
            404, fmt::format("not found: no --replay recording of '{}'", printable(custom.topic))));
    }
    if (request.bad_length || request.chunked) {
        return reply.bad_request("send the request body with Content-Length");
    }
    auto format = ReplayExchange::Format::sse;
    if (custom.kind == RouteKind::stream) {
        format = request.arg("format") == std::optional<std::string_view>("ndjson")
                     ? ReplayExchange::Format::ndjson
                     : ReplayExchange::Format::text;
    }
    auto exchange = std::make_unique<ReplayExchange>(
        wsi, m_loop, recording->second, m_options.replay_speed, format, m_options.max_body);
    ReplayExchange& started = *exchange;
    m_exchanges.emplace(wsi, std::move(exchange));
    if (request.content_length.value_or(0) == 0 && !started.start()) {
        m_exchanges.erase(wsi);
        return Next::close;
    }
    return Next::wait;
}

Next HttpListener::start_poll(lws* wsi, const Request& request, std::string_view topic,
                              const Replier& reply) {
    std::optional<std::uint64_t> cursor;
    if (auto text = request.arg("cursor")) {
        cursor = parse_id(*text);
        if (!cursor) {
            return reply.bad_request("cursor must be a message id (digits)");
        }
    }
    core::Duration hold = m_options.poll_hold;
    if (auto text = request.arg("timeout")) {
        auto timeout = core::parse_duration(*text);
        if (!timeout) {
            return reply.bad_request("timeout must be a duration in seconds (2, 0.5, 500ms)");
        }
        hold = std::min(*timeout, hold);
    }
    Next refused = Next::wait;
    auto faults = open_faults(fault::Protocol::poll, refused, reply);
    if (refused != Next::wait) {
        return refused;
    }
    const std::uint64_t last = m_hub.last_id(topic);
    const std::uint64_t position = cursor.value_or(last);
    if (position != last) {
        HubReplay replay = m_hub.since(topic, position);
        // A cursor ahead of the topic (the server restarted) is answered at once, with
        // whatever the history holds.
        if (position > last || !replay.messages.empty()) {
            return reply(poll_answer(replay.messages, last, replay.gap));
        }
    }
    if (hold.count() <= 0) {
        Response response;
        response.status = 204;
        response.headers.emplace_back("x-cursor", std::to_string(position));
        return reply(std::move(response));
    }
    // Messages after the cursor are lost when the history no longer holds them, or when the
    // cursor comes from an earlier run of the server.
    const bool gap = position < last || (position != 0 && position < m_hub.limits().first_id);
    auto exchange = std::make_unique<PollExchange>(wsi, m_loop, position, gap, std::move(faults));
    auto held = exchange->hold(m_hub, topic, hold);
    if (!held) {
        return reply.unavailable(held.error());
    }
    m_exchanges.emplace(wsi, std::move(exchange));
    return Next::wait;
}

Next HttpListener::start_publish(lws* wsi, const Request& request, std::string_view topic,
                                 const Replier& reply) {
    std::string event;
    if (auto name = request.arg("event")) {
        if (name->find_first_of("\r\n") != std::string_view::npos || !core::is_valid_utf8(*name)) {
            return reply.bad_request("the event name must be one line of UTF-8");
        }
        event = std::string(*name);
    }
    if (request.bad_length) {
        return reply.bad_request("Content-Length is not a number");
    }
    const std::uint64_t length = request.content_length.value_or(0);
    if (length > m_options.max_body) {
        return reply(error_response(
            413, fmt::format("request body too large: {} bytes, the limit is {} (--max-body)",
                             length, m_options.max_body)));
    }
    if (request.chunked) {
        // lws 4.1 does not decode a chunked request body: say so rather than hang up.
        return reply(error_response(411, "length required: send the body with Content-Length "
                                         "(a chunked request body is not supported)"));
    }
    if (length == 0) {
        return publish_and_answer(wsi, m_hub, topic, std::move(event), std::string(), false);
    }
    m_exchanges.emplace(wsi,
                        std::make_unique<PublishExchange>(wsi, m_hub, std::string(topic),
                                                          std::move(event), m_options.max_body));
    return Next::wait;
}

Next HttpListener::start_push(lws* wsi, const Request& request, std::string_view rest,
                              const Replier& reply) {
    m_push.set_secure(m_lws.secure());
    const auto slash = rest.find('/');
    const std::string_view id = rest.substr(0, slash);
    const std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash);
    const std::int64_t now = unix_ms();
    if (id == "receipts") {
        if (request.method == LWSHUMETH_POST && tail.empty()) {
            return reply(m_push.subscribe_receipts(request.push.host));
        }
        if (request.method == LWSHUMETH_GET && tail.size() > 1) {
            return reply(m_push.receipts(tail.substr(1)));
        }
    } else if (request.method == LWSHUMETH_GET && tail == "/messages") {
        return reply(m_push.messages(id, now));
    } else if (request.method == LWSHUMETH_DELETE && tail.empty()) {
        return reply(m_push.remove(id, now));
    }
    if (request.method != LWSHUMETH_POST || !tail.empty() || id == "receipts") {
        return reply(error_response(404, "not found: the push service has POST /push/subscribe, "
                                         "POST and DELETE /push/{id}, GET /push/{id}/messages, "
                                         "POST /push/receipts, GET /push/receipts/{id}"));
    }
    if (request.bad_length || request.chunked) {
        return reply.bad_request("send the body with a Content-Length");
    }
    const std::uint64_t length = request.content_length.value_or(0);
    if (length > m_options.max_body) {
        return reply(error_response(
            413, fmt::format("payload too large: {} bytes, the limit is {} (--max-body)", length,
                             m_options.max_body)));
    }
    const std::string push_id(id == "subscribe" ? std::string_view() : id);
    if (length == 0) {
        const Next next = answer_push(wsi, m_push, push_id, request.push, false);
        arm_push_timer(now);
        return next;
    }
    m_exchanges.emplace(wsi, std::make_unique<PushExchange>(wsi, m_push, push_id, request.push,
                                                            m_options.max_body,
                                                            [this] { arm_push_timer(unix_ms()); }));
    return Next::wait;
}

Next HttpListener::start_whip(lws* wsi, const Request& request, std::string_view rest,
                              const Replier& reply) {
    if (m_peers == nullptr) {
        return reply(error_response(404, "not found: rtx serve's WebRTC peers are off"));
    }
    if (request.method == LWSHUMETH_DELETE) {
        // RFC 9725 section 4.2: DELETE on the session's Location ends it.
        if (!rest.starts_with(k_whip_resource_prefix) ||
            !m_peers->remove(rest.substr(k_whip_resource_prefix.size()))) {
            return reply(error_response(
                404, fmt::format("not found: no WHIP session /whip/{}", printable(rest))));
        }
        Response response;
        response.body = "session ended\n";
        return reply(std::move(response));
    }
    if (request.method != LWSHUMETH_POST || rest.starts_with(k_whip_resource_prefix)) {
        Response response = error_response(
            405, "method not allowed: POST an offer to /whip/{target}, DELETE a session "
                 "(trickle ICE and ICE restarts by PATCH are not supported)");
        response.headers.emplace_back("allow", "POST, DELETE, OPTIONS");
        return reply(std::move(response));
    }
    const auto type = request_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE).value_or("");
    if (!std::string_view(type).starts_with("application/sdp")) {
        return reply(error_response(
            415, fmt::format("unsupported media type '{}': a WHIP offer is application/sdp",
                             printable(type.substr(0, 100)))));
    }
    if (request.bad_length || request.chunked || request.content_length.value_or(0) == 0) {
        return reply.bad_request("send the SDP offer with a Content-Length");
    }
    const std::uint64_t length = *request.content_length;
    if (length > m_options.max_body) {
        return reply(error_response(
            413, fmt::format("request body too large: {} bytes, the limit is {} (--max-body)",
                             length, m_options.max_body)));
    }
    m_exchanges.emplace(
        wsi, std::make_unique<WhipExchange>(wsi, *m_peers, std::string(rest), m_options.max_body));
    return Next::wait;
}

} // namespace rtx::serve::http
