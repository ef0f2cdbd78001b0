#include "transport/http/curl_engine.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <unordered_set>

namespace rtx::transport::http {

using core::ExitCode;

namespace {

void global_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

ExitCode exit_code_for(CURLcode code) {
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return ExitCode::connect_failed;
    case CURLE_OPERATION_TIMEDOUT:
        return ExitCode::timeout;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
        return ExitCode::tls_failed;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return ExitCode::connection_lost;
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return ExitCode::protocol_error;
    default:
        return ExitCode::failure;
    }
}

std::string trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return std::string(text);
}

} // namespace

/// The multi handle and its libuv watchers.
struct CurlMulti::Impl {
    core::Loop& loop;
    CURLM* multi = nullptr;
    uv_timer_t* timer = nullptr;
    /// The cookie store every transfer shares (-b/-c), so a cookie set on one response goes
    /// with the next request (poll, reconnects); made on first use.
    CURLSH* share = nullptr;
    bool cookie_file_read = false; ///< -b FILE is read once, by the first transfer
    int running = 0;
    std::unordered_set<void*> watches; ///< Live SocketWatch objects, closed with the multi.

    explicit Impl(core::Loop& owner);
    ~Impl();
    void socket_action(curl_socket_t socket, int flags);
    void check_done();
};

namespace {

/// One socket curl asked us to watch; freed by libuv after close.
struct SocketWatch {
    uv_poll_t poll{};
    curl_socket_t fd = CURL_SOCKET_BAD;
    CurlMulti::Impl* multi = nullptr;
};

void close_watch(SocketWatch* watch) {
    uv_poll_stop(&watch->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll),
             [](uv_handle_t* handle) { delete static_cast<SocketWatch*>(handle->data); });
}

} // namespace

CurlMulti::Impl::Impl(core::Loop& owner)
    : loop(owner)
    , multi(curl_multi_init())
    , timer(new uv_timer_t) {
    uv_timer_init(loop.native(), timer);
    timer->data = this;
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(
        multi, CURLMOPT_SOCKETFUNCTION,
        +[](CURL*, curl_socket_t fd, int what, void* userp, void* socketp) -> int {
            auto* self = static_cast<Impl*>(userp);
            auto* watch = static_cast<SocketWatch*>(socketp);
            if (what == CURL_POLL_REMOVE) {
                if (watch != nullptr) {
                    curl_multi_assign(self->multi, fd, nullptr);
                    self->watches.erase(watch);
                    close_watch(watch);
                }
                return 0;
            }
            if (watch == nullptr) {
                watch = new SocketWatch;
                watch->fd = fd;
                watch->multi = self;
                uv_poll_init_socket(self->loop.native(), &watch->poll, fd);
                watch->poll.data = watch;
                curl_multi_assign(self->multi, fd, watch);
                self->watches.insert(watch);
            }
            int events = 0;
            if ((what & CURL_POLL_IN) != 0) {
                events |= UV_READABLE;
            }
            if ((what & CURL_POLL_OUT) != 0) {
                events |= UV_WRITABLE;
            }
            uv_poll_start(&watch->poll, events, [](uv_poll_t* handle, int status, int ready) {
                auto* w = static_cast<SocketWatch*>(handle->data);
                int flags = 0;
                if (status < 0) {
                    flags = CURL_CSELECT_ERR;
                }
                if ((ready & UV_READABLE) != 0) {
                    flags |= CURL_CSELECT_IN;
                }
                if ((ready & UV_WRITABLE) != 0) {
                    flags |= CURL_CSELECT_OUT;
                }
                w->multi->socket_action(w->fd, flags);
            });
            return 0;
        });
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(
        multi, CURLMOPT_TIMERFUNCTION, +[](CURLM*, long timeout_ms, void* userp) -> int {
            auto* self = static_cast<Impl*>(userp);
            if (timeout_ms < 0) {
                uv_timer_stop(self->timer);
                return 0;
            }
            // Never call socket_action from here (curl forbids it): the timer does, even for 0.
            uv_timer_start(
                self->timer,
                [](uv_timer_t* handle) {
                    static_cast<Impl*>(handle->data)->socket_action(CURL_SOCKET_TIMEOUT, 0);
                },
                static_cast<std::uint64_t>(timeout_ms), 0);
            return 0;
        });
}

CurlMulti::Impl::~Impl() {
    curl_multi_cleanup(multi);
    if (share != nullptr) {
        curl_share_cleanup(share);
    }
    for (void* watch : watches) {
        close_watch(static_cast<SocketWatch*>(watch));
    }
    core::close_and_delete(timer);
}

void CurlMulti::Impl::socket_action(curl_socket_t socket, int flags) {
    curl_multi_socket_action(multi, socket, flags, &running);
    check_done();
}

/// One easy handle and its state. Deleted by HttpTransfer, or by itself when the
/// HttpTransfer went away while curl was inside one of its callbacks (orphaned).
struct HttpTransfer::Impl {
    CurlMulti::Impl& multi;
    HttpTransferHandler* handler;
    CURL* easy = nullptr;
    curl_slist* header_list = nullptr;
    curl_slist* resolve_list = nullptr;
    char error_buffer[CURL_ERROR_SIZE] = {};
    HttpResponseHead head;
    bool head_done = false;
    /// Set when the reply had no HTTP status line (HTTP/0.9 or another protocol): the
    /// start of what the server sent, for the error.
    std::optional<std::string> not_http;
    bool include_head = false; ///< keep head.text (-i)
    bool added = false;
    bool aborted = false;
    bool orphaned = false;
    int in_callback = 0;

    Impl(CurlMulti::Impl& owner, const HttpRequest& request, HttpTransferHandler& h);
    ~Impl();
    void finish(CURLcode code);
    void remove();
    void set_cookies(const HttpRequest& request);

    static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user);
    static std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user);
    static int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void*);
    static int on_sockopt(void*, curl_socket_t fd, curlsocktype purpose);
};

/// Runs after curl creates a socket and before it binds CURLOPT_INTERFACE: the port is then
/// chosen at connect time, so many connections can share one source address (see
/// ConnectOptions::source_ip).
int HttpTransfer::Impl::on_sockopt(void*, curl_socket_t fd, curlsocktype purpose) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    if (purpose == CURLSOCKTYPE_IPCXN) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    }
#else
    (void)fd;
    (void)purpose;
#endif
    return CURL_SOCKOPT_OK;
}

HttpTransfer::Impl::Impl(CurlMulti::Impl& owner, const HttpRequest& request, HttpTransferHandler& h)
    : multi(owner)
    , handler(&h)
    , easy(curl_easy_init()) {
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, this);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.connect_timeout.count() / 1000));
    if (request.timeout.count() > 0) {
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                         static_cast<long>(request.timeout.count() / 1000));
    }
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     request.http2_prior_knowledge ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                     : request.http2               ? CURL_HTTP_VERSION_2TLS
                                                   : CURL_HTTP_VERSION_1_1);
    if (request.pipewait) {
        curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    }
    include_head = request.include_head;
    if (request.compressed) {
        curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, ""); // all that this libcurl decodes
    }
    for (const auto& entry : request.resolve) {
        resolve_list = curl_slist_append(resolve_list, entry.c_str());
    }
    if (resolve_list != nullptr) {
        curl_easy_setopt(easy, CURLOPT_RESOLVE, resolve_list);
    }
    set_cookies(request);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    // A reply without a status line reaches on_write as an HTTP/0.9 body instead of failing
    // inside curl with "Received HTTP/0.9 when not allowed" (exit 1): on_write then ends the
    // transfer as a protocol error and shows what the server sent.
    curl_easy_setopt(easy, CURLOPT_HTTP09_ALLOWED, 1L);
    if (!request.source_ip.empty()) {
        // "host!" makes curl take the text as an address, never an interface name.
        std::string local = "host!" + request.source_ip;
        curl_easy_setopt(easy, CURLOPT_INTERFACE, local.c_str()); // curl copies the string
        curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, &Impl::on_sockopt);
    }
    if (request.has_body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, request.body.c_str());
    }
    if (request.method != (request.has_body ? "POST" : "GET")) {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    for (const auto& line : request.headers) {
        header_list = curl_slist_append(header_list, line.c_str());
    }
    if (header_list != nullptr) {
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, header_list);
    }
    if (!request.user.empty()) {
        curl_easy_setopt(easy, CURLOPT_USERPWD, request.user.c_str());
    }
    if (!request.bearer.empty()) {
        curl_easy_setopt(easy, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, request.bearer.c_str());
    }
    if (!request.proxy.empty()) {
        curl_easy_setopt(easy, CURLOPT_PROXY, request.proxy.c_str());
    }
    if (request.tls.insecure) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!request.tls.ca_file.empty()) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, request.tls.ca_file.c_str());
    }
    if (!request.tls.cert_file.empty()) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, request.tls.cert_file.c_str());
        curl_easy_setopt(
            easy, CURLOPT_SSLKEY,
            (request.tls.key_file.empty() ? request.tls.cert_file : request.tls.key_file).c_str());
    }
    if (request.show_headers) {
        curl_easy_setopt(easy, CURLOPT_DEBUGFUNCTION, &Impl::on_debug);
        curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);
    }
}

HttpTransfer::Impl::~Impl() {
    remove();
    curl_easy_cleanup(easy); // writes the cookie jar (-c)
    curl_slist_free_all(header_list);
    curl_slist_free_all(resolve_list);
}

void HttpTransfer::Impl::set_cookies(const HttpRequest& request) {
    const bool literal = request.cookie.find('=') != std::string::npos;
    if (literal) {
        curl_easy_setopt(easy, CURLOPT_COOKIE, request.cookie.c_str()); // as curl -b 'a=b'
    }
    const bool file = !request.cookie.empty() && !literal;
    if (!file && request.cookie_jar.empty()) {
        return; // no cookie engine, as curl without -b FILE or -c
    }
    if (multi.share == nullptr) {
        multi.share = curl_share_init();
        curl_share_setopt(multi.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    }
    curl_easy_setopt(easy, CURLOPT_SHARE, multi.share);
    // "" turns the engine on without reading anything; the file is read by the first
    // transfer only, or a later one would put its old values over what the server set since.
    const bool read_file = file && !multi.cookie_file_read;
    curl_easy_setopt(easy, CURLOPT_COOKIEFILE, read_file ? request.cookie.c_str() : "");
    multi.cookie_file_read = multi.cookie_file_read || read_file;
    if (!request.cookie_jar.empty()) {
        curl_easy_setopt(easy, CURLOPT_COOKIEJAR, request.cookie_jar.c_str());
    }
}

void HttpTransfer::Impl::remove() {
    if (added) {
        added = false;
        curl_multi_remove_handle(multi.multi, easy);
    }
}

int HttpTransfer::Impl::on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void*) {
    // -v: request headers as "> ...", response headers as "< ...", like curl -v.
    if (type != CURLINFO_HEADER_OUT && type != CURLINFO_HEADER_IN) {
        return 0;
    }
    std::string_view text(data, size);
    const char* prefix = type == CURLINFO_HEADER_OUT ? "> " : "< ";
    while (!text.empty()) {
        auto end = text.find('\n');
        std::string_view line = text.substr(0, end);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (!line.empty()) {
            core::log_line(fmt::format("{}{}", prefix, line));
        }
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    }
    return 0;
}

std::size_t HttpTransfer::Impl::on_header(char* data, std::size_t size, std::size_t count,
                                          void* user) {
    auto* self = static_cast<Impl*>(user);
    std::size_t length = size * count;
    if (self->aborted) {
        return 0;
    }
    std::string_view line(data, length);
    if (line.rfind("HTTP/", 0) == 0) {
        // A new response block (after 1xx or a redirect): start the head over. -i keeps the
        // text of the interim 1xx heads before it (100 Continue, 103 Early Hints), as curl -i.
        std::string interim;
        if (self->include_head && self->head.status >= 100 && self->head.status < 200) {
            interim = std::move(self->head.text);
        }
        self->head = HttpResponseHead{};
        if (self->include_head) {
            self->head.text = std::move(interim);
            self->head.text.append(line);
        }
        auto first_space = line.find(' ');
        if (first_space != std::string_view::npos) {
            std::string_view rest = line.substr(first_space + 1);
            self->head.status = std::strtol(std::string(rest.substr(0, 3)).c_str(), nullptr, 10);
            self->head.reason = rest.size() > 4 ? trim(rest.substr(4)) : std::string();
        }
        return length;
    }
    if (self->include_head && !self->head_done) {
        self->head.text.append(line);
    }
    if (line == "\r\n" || line == "\n") {
        if (self->head.status >= 200 && !self->head_done) {
            self->head_done = true;
            ++self->in_callback;
            bool keep = self->handler->on_response_head(self->head);
            --self->in_callback;
            if (!keep || self->aborted) {
                self->aborted = true;
                return 0;
            }
        }
        return length;
    }
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        self->head.headers.emplace_back(std::move(name), trim(line.substr(colon + 1)));
    }
    return length;
}

std::size_t HttpTransfer::Impl::on_write(char* data, std::size_t size, std::size_t count,
                                         void* user) {
    auto* self = static_cast<Impl*>(user);
    std::size_t length = size * count;
    if (self->aborted) {
        return 0; // makes curl end the transfer with CURLE_WRITE_ERROR
    }
    if (!self->head_done) {
        // Body bytes before any status line: curl read the reply as HTTP/0.9. Every HTTP/1.x
        // response starts with a status line (RFC 9112 section 4), so the server speaks
        // something else.
        self->not_http = std::string(data, std::min<std::size_t>(length, 64));
        return 0;
    }
    ++self->in_callback;
    bool keep = self->handler->on_body(std::string_view(data, length));
    --self->in_callback;
    if (!keep || self->aborted) {
        self->aborted = true;
        return 0;
    }
    return length;
}

void HttpTransfer::Impl::finish(CURLcode code) {
    remove();
    if (orphaned) {
        delete this; // the HttpTransfer is gone; nobody to tell
        return;
    }
    if (aborted) {
        return; // the user asked for it and expects no on_done
    }
    HttpResult result;
    result.ok = code == CURLE_OK && !not_http;
    if (!result.ok) {
        char* url = nullptr;
        curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
        std::string_view where = url != nullptr ? url : "request";
        std::string_view detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
        if (not_http) {
            result.exit_code = ExitCode::protocol_error;
            result.error =
                fmt::format("{}: the reply is not HTTP (no status line; it starts with \"{}\")",
                            where, core::one_line_excerpt(*not_http, 40));
        } else if (code == CURLE_WEIRD_SERVER_REPLY) {
            result.exit_code = ExitCode::protocol_error;
            result.error = fmt::format("{}: the reply is not valid HTTP ({})", where, detail);
        } else {
            result.exit_code = exit_code_for(code);
            result.error = fmt::format("{}: {}", where, detail);
        }
    }
    handler->on_done(result); // last: may destroy the transfer
}

void CurlMulti::Impl::check_done() {
    int pending = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &pending)) {
        if (message->msg != CURLMSG_DONE) {
            continue;
        }
        HttpTransfer::Impl* transfer = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
        CURLcode code = message->data.result;
        if (transfer != nullptr) {
            transfer->finish(code);
        }
    }
}

namespace {

// The engine table's functions: what CurlMulti's and HttpTransfer's methods were (they are
// now in curl_multi.cpp, in the executable, and call these through the table).

CurlMulti::Impl* new_multi(core::Loop& loop) {
    global_init_once();
    return new CurlMulti::Impl(loop);
}

void delete_multi(CurlMulti::Impl* multi) {
    delete multi;
}

void keep_idle_connections(CurlMulti::Impl& multi, std::size_t count) {
    curl_multi_setopt(multi.multi, CURLMOPT_MAXCONNECTS, static_cast<long>(count));
}

HttpTransfer::Impl* new_transfer(CurlMulti::Impl& multi, const HttpRequest& request,
                                 HttpTransferHandler& handler) {
    return new HttpTransfer::Impl(multi, request, handler);
}

void release_transfer(HttpTransfer::Impl* transfer) {
    if (transfer->in_callback > 0 && transfer->added) {
        // Destroyed from inside one of our own callbacks: curl still holds the handle, so
        // the Impl outlives its HttpTransfer and frees itself when curl reports the aborted
        // transfer.
        transfer->orphaned = true;
        transfer->aborted = true;
        return;
    }
    delete transfer;
}

void start_transfer(HttpTransfer::Impl& transfer) {
    transfer.added = true;
    curl_multi_add_handle(transfer.multi.multi, transfer.easy);
}

void abort_transfer(HttpTransfer::Impl& transfer) {
    transfer.aborted = true;
    if (transfer.in_callback == 0) {
        transfer.remove(); // not inside curl: let go at once
    }
}

std::int64_t parse_http_date(const char* text) {
    return static_cast<std::int64_t>(curl_getdate(text, nullptr));
}

const char* library_version() {
    return curl_version_info(CURLVERSION_NOW)->version;
}

constexpr CurlEngine k_engine{
    k_curl_engine_abi, &new_multi,      &delete_multi,   &keep_idle_connections, &new_transfer,
    &release_transfer, &start_transfer, &abort_transfer, &parse_http_date,       &library_version};

} // namespace

} // namespace rtx::transport::http

extern "C" __attribute__((visibility("default"))) const void* rtx_curl_engine() {
    return &rtx::transport::http::k_engine;
}
