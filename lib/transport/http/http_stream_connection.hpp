#pragma once

#include "core/timer.hpp"
#include "proto/framing.hpp"
#include "proto/sse_parser.hpp"
#include "transport/connection.hpp"
#include "transport/http/curl_multi.hpp"

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
    std::optional<core::Duration> retry; ///< Set by `retry:`.
};

/// One streamed HTTP response read as messages: `rtx stream` and `rtx sse`. Receive only
/// (send() returns false). The connection opens when a 2xx head arrives; a non-2xx status
/// or (for SSE) a content type other than text/event-stream ends it with
/// ExitCode::http_status; SSE's 204 ends it as final (no reconnect). Loop thread only.
class HttpStreamConnection final : public Connection, private HttpTransferHandler {
public:
    HttpStreamConnection(CurlMulti& multi, HttpRequest request, BodyFormat format,
                         std::shared_ptr<SseState> sse, Handler& handler, std::uint64_t id);
    ~HttpStreamConnection() override;

    /// Starts the request on the next loop turn.
    void start();

    bool send(const Message&) override { return false; }
    void finish_sending() override {}
    void close() override;
    bool is_open() const override { return m_open && !m_finished; }
    std::size_t buffered_bytes() const override { return 0; }
    const ConnectionStats& stats() const override { return m_stats; }
    std::uint64_t id() const override { return m_id; }

private:
    bool on_response_head(const HttpResponseHead& head) override;
    bool on_body(std::string_view bytes) override;
    void on_done(const HttpResult& result) override;
    void deliver(const Message& message);
    /// Ends the connection; on_close follows on the next loop turn (never inside curl).
    void finish(CloseInfo info);

    CurlMulti& m_multi;
    HttpRequest m_request;
    BodyFormat m_format;
    std::shared_ptr<SseState> m_sse;
    Handler& m_handler;
    std::uint64_t m_id;
    std::unique_ptr<HttpTransfer> m_transfer;
    proto::Framer m_framer{proto::Framing::lines};
    proto::SseParser m_parser;
    core::Timer m_defer;
    std::uint64_t m_started_ms = 0;
    bool m_open = false;
    bool m_finished = false;
    long m_status = 0;
    ConnectionStats m_stats;
};

} // namespace rtx::transport::http
