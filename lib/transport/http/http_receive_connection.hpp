#pragma once

#include "core/timer.hpp"
#include "transport/connection.hpp"
#include "transport/http/curl_multi.hpp"

#include <memory>

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
    /// Marks the connection open (after a usable response head) and tells the handler.
    void open();
    /// Ends the connection once: aborts the transfer; on_close follows on the next turn.
    void finish(CloseInfo info);
    /// Lets a protocol add to the CloseInfo just before it is delivered (SSE retry:).
    virtual void complete(CloseInfo& info) { (void)info; }
    /// Starts a transfer of `request` with this object as its handler.
    void start_transfer(const HttpRequest& request);

    CurlMulti& m_multi;
    Handler& m_handler;
    std::uint64_t m_id;
    std::unique_ptr<HttpTransfer> m_transfer;
    core::Timer m_timer; ///< Next-turn work: the first request, the next poll, on_close.
    std::uint64_t m_started_ms = 0;
    bool m_open = false;
    bool m_finished = false;
    ConnectionStats m_stats;
};

} // namespace rtx::transport::http
