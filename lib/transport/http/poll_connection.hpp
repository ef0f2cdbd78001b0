#pragma once

#include "transport/connection.hpp"
#include "transport/http/http_receive_connection.hpp"

#include <memory>
#include <optional>
#include <string>

namespace rtx::transport::http {

/// How the long-polling loop asks and what it takes from each answer.
struct PollOptions {
    core::Duration interval{0};                    ///< Minimum gap between two request starts.
    core::Duration hold{std::chrono::seconds(30)}; ///< How long the server may hold a request.
    std::string cursor_pointer;                    ///< JSON pointer to the next cursor ("/cursor").
    std::string cursor_param = "cursor";           ///< Query parameter that sends the cursor back.
    std::string items_pointer;                     ///< JSON pointer to an array: one message each.
    bool lines = false;                            ///< Without items: one message per body line.
};

/// What a poll client remembers across requests and reconnects.
struct PollState {
    std::string cursor;        ///< Sent as cursor_param; from cursor_pointer or X-Cursor.
    std::string etag;          ///< Sent back as If-None-Match.
    std::string last_modified; ///< Sent back as If-Modified-Since.
};

/// A long-polling loop as one Connection: request, wait for the held response, deliver what
/// it carries, request again at once (or after `interval`). 204 and 304 mean nothing new;
/// ETag / Last-Modified are sent back; 429 and 503 end the connection with retry_after from
/// Retry-After so the reconnect policy backs off; other non-2xx statuses end it with
/// ExitCode::http_status. Receive only. Loop thread only.
class PollConnection final : public HttpReceiveConnection {
public:
    PollConnection(CurlMulti& multi, HttpRequest request, PollOptions options,
                   std::shared_ptr<PollState> state, Handler& handler, std::uint64_t id);
    ~PollConnection() override;

    /// Sends the first request on the next loop turn.
    void start();

private:
    bool on_response_head(const HttpResponseHead& head) override;
    bool on_body(std::string_view bytes) override;
    void on_done(const HttpResult& result) override;
    void request();
    void handle_body();

    HttpRequest m_request;
    PollOptions m_options;
    std::shared_ptr<PollState> m_state;
    HttpResponseHead m_head;
    std::string m_body;
    std::uint64_t m_request_started_ms = 0;
};

} // namespace rtx::transport::http
