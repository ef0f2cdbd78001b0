#pragma once

#include "core/timer.hpp"
#include "transport/connection.hpp"
#include "transport/http/curl_multi.hpp"

#include <memory>
#include <optional>
#include <string>

namespace rtx::transport::http {

/// What every receive-only HTTP client connection shares (`rtx stream`, `rtx sse`,
/// `rtx poll`): send() refuses, the Connection bookkeeping, message delivery that stops once
/// the handler closed us, and the one way to end: finish(), which aborts the transfer and
/// delivers on_close on the next loop turn, never inside curl's callbacks (curl forbids
/// removing a handle from there, and the owner may destroy us in on_close).
/// Loop thread only.
class HttpReceiveConnection : public Connection, protected HttpTransferHandler {
public:
    bool send(const Message&) override { return false; }
    void finish_sending() override {}
    void close() override;
    bool is_open() const override { return m_open && !m_finished; }
    std::size_t buffered_bytes() const override { return 0; }
    const ConnectionStats& stats() const override { return m_stats; }
    std::uint64_t id() const override { return m_id; }

protected:
    HttpReceiveConnection(CurlMulti& multi, Handler& handler, std::uint64_t id);
    ~HttpReceiveConnection() override;

    /// Counts and hands one message to the handler, unless the connection already ended.
    void deliver(const Message& message);
    /// Hands a response head's text to the handler (-i; HttpRequest::include_head).
    void show_head(const HttpResponseHead& head);
    /// Marks the connection open (after a usable response head) and tells the handler.
    void open();
    /// Ends the connection once: aborts the transfer; on_close follows on the next turn.
    void finish(CloseInfo info);
    /// Lets a protocol add to the CloseInfo just before it is delivered (SSE retry:).
    virtual void complete(CloseInfo& info) { (void)info; }
    /// Starts a transfer of `request` with this object as its handler.
    void start_transfer(const HttpRequest& request);

    /// A 4xx/5xx head arrived: the connection ends with `info`, but first keeps reading the
    /// body for the user (curl shows it): its first bytes, or all of it with -v, for at most
    /// k_error_body_wait. Feed the body to collect_error_body(); on_done calls
    /// finish_with_error_body().
    void begin_error_body(CloseInfo info);
    bool collecting_error_body() const { return m_error_info.has_value(); }
    /// Returns false once enough is kept: the caller then calls finish_with_error_body().
    bool collect_error_body(std::string_view bytes);
    /// Ends the connection with the pending error and what was kept of the body.
    void finish_with_error_body();
    /// Adds the start of an error response's body to `info.reason` (one line, cut); with
    /// -v, writes all of it to stderr first.
    static void add_error_body(CloseInfo& info, std::string_view body);

    /// How long a 4xx/5xx body may take to arrive before rtx reports the status anyway.
    static constexpr core::Duration k_error_body_wait = std::chrono::seconds(2);
    /// How much of an error body the one-line excerpt shows.
    static constexpr std::size_t k_error_excerpt_bytes = 200;

    CurlMulti& m_multi;
    Handler& m_handler;
    std::uint64_t m_id;
    std::unique_ptr<HttpTransfer> m_transfer;
    core::Timer m_timer;            ///< Next-turn work: the first request, the next poll, on_close.
    core::Timer m_error_body_timer; ///< Bounds the wait for an error body.
    std::optional<CloseInfo> m_error_info; ///< Pending while an error body is read.
    std::string m_error_body;              ///< What was kept of it.
    std::uint64_t m_started_ms = 0;
    bool m_open = false;
    bool m_finished = false;
    ConnectionStats m_stats;
};

} // namespace rtx::transport::http
