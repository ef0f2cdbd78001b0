#include "transport/http/http_receive_connection.hpp"

namespace rtx::transport::http {

HttpReceiveConnection::HttpReceiveConnection(CurlMulti& multi, Handler& handler, std::uint64_t id)
    : m_multi(multi)
    , m_handler(handler)
    , m_id(id)
    , m_timer(multi.loop())
    , m_started_ms(multi.loop().now_ms()) {}

HttpReceiveConnection::~HttpReceiveConnection() = default;

void HttpReceiveConnection::start_transfer(const HttpRequest& request) {
    m_transfer =
        std::make_unique<HttpTransfer>(m_multi, request, static_cast<HttpTransferHandler&>(*this));
    m_transfer->start();
}

void HttpReceiveConnection::open() {
    m_open = true;
    m_stats.connect_time = std::chrono::milliseconds(m_multi.loop().now_ms() - m_started_ms);
    m_handler.on_open(*this);
}

void HttpReceiveConnection::deliver(const Message& message) {
    if (m_finished) {
        return; // the handler closed us earlier in this batch
    }
    ++m_stats.messages_in;
    m_stats.bytes_in += message.payload.size();
    m_handler.on_message(*this, message);
}

void HttpReceiveConnection::close() {
    CloseInfo info;
    info.reason = "closed";
    finish(std::move(info));
}

void HttpReceiveConnection::finish(CloseInfo info) {
    if (m_finished) {
        return;
    }
    m_finished = true;
    info.was_open = m_open;
    complete(info);
    if (m_transfer) {
        m_transfer->abort();
    }
    m_timer.start(core::Duration{0}, [this, info = std::move(info)] {
        m_transfer.reset();
        m_handler.on_close(*this, info); // last: the owner may destroy us
    });
}

} // namespace rtx::transport::http
