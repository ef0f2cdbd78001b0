#pragma once

#include <libwebsockets.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtx::serve::http {

/// What the listener does with an exchange after one of its callbacks.
enum class Next {
    wait,  ///< The exchange goes on: more body to come, a held poll, an open stream.
    done,  ///< The response is complete: the exchange is destroyed and the connection waits
           ///< for the client's next request (HTTP/1.1 keep-alive) when the client allows.
    close, ///< The exchange is destroyed and the connection closed once lws has flushed
           ///< what was written.
};

/// One HTTP request and its response on one lws connection (wsi) that cannot be answered
/// at once: a request body to read, a held poll, a stream. Owned by HttpListener, which
/// forwards the lws callbacks of the wsi to it; it writes only from on_writeable() (and from
/// the listener's request callback, before it exists). Loop thread only.
class Exchange {
public:
    explicit Exchange(lws* wsi)
        : m_wsi(wsi) {}
    virtual ~Exchange() = default;
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    /// The next bytes of the request body (LWS_CALLBACK_HTTP_BODY).
    virtual Next on_body(std::string_view bytes);
    /// The request body is complete (LWS_CALLBACK_HTTP_BODY_COMPLETION).
    virtual Next on_body_complete();
    /// The connection can take more bytes (LWS_CALLBACK_HTTP_WRITEABLE), asked for with
    /// request_writeable().
    virtual Next on_writeable() = 0;
    /// rtx serve is shutting down: end the response soon and gracefully, from on_writeable().
    virtual void begin_shutdown() {}
    /// One --heartbeat period passed.
    virtual void on_heartbeat() {}
    /// Gives the request's header storage back to lws, for an exchange that has copied out
    /// what it needs and stays open (a stream, a held poll): thousands of them should not
    /// each keep one, and lws drops a connection that holds one for too long. Not from the
    /// request callback, where lws still uses it. Once only; later calls do nothing.
    void detach_headers();

protected:
    lws* wsi() const { return m_wsi; }
    /// Asks lws for one on_writeable() call when the socket can take more.
    void request_writeable() { lws_callback_on_writable(m_wsi); }

private:
    lws* m_wsi;
    bool m_headers_detached = false;
};

/// A whole response, or the head of a chunked one.
struct Response {
    unsigned status = 200;
    std::string_view content_type = "text/plain; charset=utf-8";
    std::string body;
    /// More headers, names without the colon: {"x-cursor", "12"}.
    std::vector<std::pair<std::string_view, std::string>> headers;
    /// Send "Connection: close"; the caller closes the connection after writing.
    bool close = false;
    /// A streaming head: "Transfer-Encoding: chunked" instead of Content-Length; `body`
    /// (if any) must already be framed as chunks.
    bool chunked = false;
};

/// True when `wsi` is an HTTP/2 stream (TLS with ALPN h2), not an HTTP/1.1 connection: no
/// chunked framing, no Connection header, and the last write ends the stream.
bool is_h2(lws* wsi);

/// Writes the status line, the headers (lws header helpers) and the body in one lws_write
/// (HTTP/2: a HEADERS frame, then the body in DATA frames; a chunked head leaves the stream
/// open, anything else ends it).
/// Every response also gets the CORS headers of CorsPolicy::current() (without one:
/// "Access-Control-Allow-Origin: *"), so pages served from another origin may use the
/// endpoints. Returns false when the connection failed (close it).
bool write_response(lws* wsi, const Response& response);

/// A one-line text/plain error ("404 not found: /nope").
Response error_response(unsigned status, std::string_view message);

/// Appends the next piece of a request body to `body`, or, when that would pass `max_body`,
/// answers 413 (closing: the rest is never read). Next::wait or Next::close.
Next collect_body(lws* wsi, std::string& body, std::string_view bytes, std::size_t max_body);

/// Writes buffer[offset, end) (already framed) as more of the response body; `offset` must be
/// at least LWS_PRE, room lws may use in front. False when the connection failed. lws keeps
/// what the socket does not take and calls on_writeable only once that has gone out.
/// `last` ends an HTTP/2 stream (HTTP/1.1 ends a chunked body with the last chunk).
bool write_body(lws* wsi, std::string& buffer, std::size_t offset, bool last = false);

/// The scratch buffer (one per thread) in which bodies are built with LWS_PRE bytes of room
/// in front, as lws_write requires.
std::string& write_buffer();

} // namespace rtx::serve::http
