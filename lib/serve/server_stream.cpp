#include "serve/server_stream.hpp"

#include "core/log.hpp"

namespace rtx::serve {

namespace {

std::string& scratch() {
    thread_local std::string buffer;
    return buffer;
}

} // namespace

ServerStream::ServerStream(uv_loop_t* loop, transport::StreamHandler& handler,
                           const TlsServerContext* tls)
    : m_handler(handler)
    , m_tcp(loop, *this) {
    if (tls != nullptr) {
        m_tls = std::make_unique<TlsServerSession>(*tls);
    }
}

ServerStream::~ServerStream() = default;

void ServerStream::write(std::string_view bytes) {
    if (!m_tls) {
        m_tcp.write(bytes);
        return;
    }
    std::string& out = scratch();
    out.clear();
    m_tls->send(bytes, out);
    m_tcp.write(out);
}

void ServerStream::shutdown() {
    if (m_tls) {
        std::string& out = scratch();
        out.clear();
        m_tls->shutdown(out);
        m_tcp.write(out);
    }
    m_tcp.shutdown();
}

void ServerStream::close() {
    if (m_tls && !m_tcp.closed()) {
        std::string& out = scratch();
        out.clear();
        m_tls->shutdown(out);
        m_tcp.write(out);
    }
    m_tcp.close();
}

void ServerStream::on_stream_data(std::string_view bytes) {
    if (!m_tls) {
        m_handler.on_stream_data(bytes);
        return;
    }
    if (m_ended) {
        return;
    }
    // The plaintext gets its own buffer: the handler may write (and so use scratch()).
    std::string plaintext;
    std::string& out = scratch();
    out.clear();
    auto received = m_tls->receive(bytes, plaintext, out);
    if (!out.empty()) {
        m_tcp.write(out); // the handshake, or the alert that ends it
    }
    if (!received) {
        core::log_verbose("tls: {}: {}", m_tcp.peer_name(), received.error().message);
        m_ended = true;
        m_tcp.stop_reading();
        m_handler.on_stream_end(UV_EPROTO);
        return;
    }
    std::weak_ptr<bool> alive = m_alive;
    if (!plaintext.empty()) {
        m_handler.on_stream_data(plaintext);
        if (alive.expired()) { // the handler destroyed this stream
            return;
        }
    }
    if (m_tls->peer_closed() && !m_ended) {
        m_ended = true;
        m_handler.on_stream_end(UV_EOF);
    }
}

void ServerStream::on_stream_end(int status) {
    if (m_ended) {
        return;
    }
    m_ended = true;
    m_handler.on_stream_end(status);
}

} // namespace rtx::serve
