#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "transport/connection.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::transport::http {

/// One HTTP request as the clients describe it (curl's option set, in rtx's words).
struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers; ///< "Name: value" lines, sent as given.
    std::string body;                 ///< Sent when has_body (POST data).
    bool has_body = false;
    std::string user;   ///< "user:password" for basic auth; empty: none.
    std::string bearer; ///< OAuth 2 bearer token; empty: none.
    std::string proxy;  ///< curl proxy URL; empty: the environment's (http_proxy, ...).
    bool http2 = true;  ///< Offer HTTP/2 (ALPN on https); false forces HTTP/1.1.
    /// HTTP/2 from the first byte, without ALPN or Upgrade (h2c): curl's
    /// --http2-prior-knowledge. Takes precedence over http2.
    bool http2_prior_knowledge = false;
    /// Wait for a connection that can multiplex (HTTP/2) rather than open another while one
    /// is being set up (CURLOPT_PIPEWAIT): transfers started together share one connection.
    bool pipewait = false;
    /// Ask for every content coding curl can decode and decode it (curl --compressed).
    bool compressed = false;
    /// curl --resolve entries, "HOST:PORT:ADDR[,ADDR]...": where HOST:PORT connects instead
    /// of a name lookup (the Host header and TLS name stay HOST).
    std::vector<std::string> resolve;
    /// curl -b: "NAME=VALUE; ..." (contains '=') is sent as the Cookie header as it is;
    /// anything else is a cookie file (Netscape format or Set-Cookie lines) read into the
    /// CurlMulti's cookie store, which every transfer on it shares. Empty: none.
    std::string cookie;
    /// curl -c: the cookie store is written to this file when each transfer ends. Empty: no.
    std::string cookie_jar;
    /// Keep the response head as received in HttpResponseHead::text (curl -i).
    bool include_head = false;
    TlsOptions tls;
    core::Duration connect_timeout{std::chrono::seconds(10)};
    core::Duration timeout{0}; ///< Whole-transfer limit; 0: none (streams run forever).
    bool show_headers = false; ///< Log request and response headers to stderr (-v).
    /// Local address to connect from (ConnectOptions::source_ip); empty: the kernel picks.
    std::string source_ip;
};

/// The response status line and headers, once complete.
struct HttpResponseHead {
    long status = 0;
    std::string reason;                                       ///< "Not Found"
    std::vector<std::pair<std::string, std::string>> headers; ///< Names lower-cased.
    /// With HttpRequest::include_head: the status line and header lines as received, CRLFs
    /// and the closing blank line included: the final response's, after the interim 1xx
    /// heads that came before it (100 Continue, 103 Early Hints), as curl -i shows them.
    std::string text;
    /// The first value of header `name` (lower case); empty when absent.
    std::string_view header(std::string_view name) const;
    /// Retry-After (RFC 9110 section 10.2.3) as a delay: delay-seconds or an HTTP date.
    std::optional<core::Duration> retry_after() const;
};

/// How a transfer ended.
struct HttpResult {
    bool ok = false; ///< The transfer completed (whatever the status).
    core::ExitCode exit_code = core::ExitCode::ok;
    std::string error; ///< One line when !ok: "connect to ...: refused".
};

/// Receives one transfer's events on the loop thread.
class HttpTransferHandler {
public:
    virtual ~HttpTransferHandler() = default;
    /// The final response head arrived (after any 1xx; redirects are not followed, so a 3xx
    /// is final). Return false to abort.
    virtual bool on_response_head(const HttpResponseHead& head) = 0;
    /// Body bytes, valid only during the call. Return false to abort the transfer.
    virtual bool on_body(std::string_view bytes) = 0;
    /// The transfer ended: completed, failed or aborted. Last call; may destroy the transfer.
    virtual void on_done(const HttpResult& result) = 0;
};

class CurlMulti;

/// One request/response on a CurlMulti. Owned by its user; destroying it cancels it.
/// Loop thread only.
class HttpTransfer {
public:
    HttpTransfer(CurlMulti& multi, const HttpRequest& request, HttpTransferHandler& handler);
    ~HttpTransfer();
    HttpTransfer(const HttpTransfer&) = delete;
    HttpTransfer& operator=(const HttpTransfer&) = delete;

    /// Adds the transfer to the multi handle; events follow from the loop.
    void start();
    /// Aborts silently: on_done is not called. Outside a callback curl lets go at once;
    /// inside one, the callback makes curl end the transfer when it returns.
    void abort();

    struct Impl; ///< The easy handle and its state; in the HTTP module (curl_engine.cpp).

private:
    friend class CurlMulti;
    Impl* m_impl = nullptr;
};

/// libcurl's multi-socket API on a core::Loop: curl's sockets are watched with uv_poll and
/// its timeouts with a uv_timer, so thousands of transfers share one thread and no transfer
/// ever blocks (never curl_easy_perform). One per loop. Loop thread only.
class CurlMulti {
public:
    explicit CurlMulti(core::Loop& loop);
    ~CurlMulti();
    CurlMulti(const CurlMulti&) = delete;
    CurlMulti& operator=(const CurlMulti&) = delete;

    core::Loop& loop() { return m_loop; }

    /// Keeps up to `count` idle connections for reuse. curl's default cache holds 4 per
    /// transfer *currently added*, so when many long-polls complete together and are
    /// re-added one by one, the shrinking limit closes most of the idle connections they
    /// were about to reuse (bench poll: ~10 reconnects per subscriber in 50 polls).
    void keep_idle_connections(std::size_t count);

    struct Impl; ///< curl and libuv handles; in the HTTP module (curl_engine.cpp).

private:
    friend class HttpTransfer;
    core::Loop& m_loop;
    Impl* m_impl = nullptr;
};

/// Loads the HTTP module (rtx-http.so, which holds every call to libcurl) now, once per
/// process: nullopt when loaded, else the one-line reason. CurlMulti's constructor loads it
/// too, and throws std::runtime_error with that reason; a command that makes CurlMultis on
/// other threads (bench's workers) calls this first.
std::optional<std::string> load_http_engine();

/// libcurl's version ("7.88.1"), from the HTTP module; "not loaded: <reason>" without it.
std::string curl_version_text();

} // namespace rtx::transport::http
