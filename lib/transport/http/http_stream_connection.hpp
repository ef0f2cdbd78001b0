#pragma once

#include "proto/framing.hpp"
#include "proto/sse_parser.hpp"
#include "transport/connection.hpp"
#include "transport/http/http_receive_connection.hpp"

#include <memory>
#include <optional>
#include <string>

namespace rtx::transport::http {

/// How a streamed response body becomes messages.
enum class BodyFormat {
    chunks, ///< Each piece as it arrives (`rtx stream`).
    lines,  ///< One message per line (`rtx stream --lines`).
    ndjson, ///< One message per non-empty line (`rtx stream --ndjson`).
    sse,    ///< text/event-stream events (`rtx sse`).
};

/// What an SSE client remembers across reconnects (WHATWG HTML 9.2: the last event ID and
/// the reconnection time survive the connection). Shared by every attempt of one client.
struct SseState {
    std::string last_event_id;
    /// The reconnection time: 3 s by default (what browsers use), then each `retry:`.
    core::Duration reconnection_time{std::chrono::seconds(3)};
    /// The "body bounded by Content-Length" warning was given (once per client).
    bool warned_content_length = false;
};

/// One streamed HTTP response read as messages: `rtx stream` and `rtx sse`. Receive only
/// (send() returns false). The connection opens when a 2xx head arrives; a non-2xx status
/// or (for SSE) a content type other than text/event-stream ends it with
/// ExitCode::http_status; SSE's 204 ends it as final (no reconnect). Loop thread only.
class HttpStreamConnection final : public HttpReceiveConnection {
public:
    HttpStreamConnection(CurlMulti& multi, HttpRequest request, BodyFormat format,
                         std::shared_ptr<SseState> sse, Handler& handler, std::uint64_t id);
    ~HttpStreamConnection() override;

    /// Starts the request on the next loop turn.
    void start();

private:
    bool on_response_head(const HttpResponseHead& head) override;
    bool on_body(std::string_view bytes) override;
    void on_done(const HttpResult& result) override;
    void complete(CloseInfo& info) override;

    HttpRequest m_request;
    BodyFormat m_format;
    std::shared_ptr<SseState> m_sse;
    proto::Framer m_framer{proto::Framing::lines};
    proto::SseParser m_parser;
    long m_status = 0;
    std::string m_content_length; ///< The response's Content-Length; empty: none.
};

} // namespace rtx::transport::http
