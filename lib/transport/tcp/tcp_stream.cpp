#include "transport/tcp/tcp_stream.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace rtx::transport {

/// Everything libuv may still touch after the TcpStream is gone: freed in the close callback.
struct TcpStream::Io {
    /// The handle: `tcp`, or `pipe` for a Unix domain socket (both begin as a uv_stream_t).
    union {
        uv_tcp_t tcp{};
        uv_pipe_t pipe;
    };
    uv_write_t write_req{};
    uv_shutdown_t shutdown_req{};
    uv_connect_t connect_req{};
    std::string inflight; ///< Bytes of the current uv_write; must outlive the request.
    bool write_active = false;
    TcpStream* owner = nullptr; ///< nullptr once the TcpStream has let go.
};

namespace {
thread_local std::array<char, 64 * 1024> t_read_buffer;
}

TcpStream::TcpStream(uv_loop_t* loop, StreamHandler& handler, StreamKind kind)
    : m_io(new Io)
    , m_handler(handler)
    , m_kind(kind) {
    // `data` set through the member in use (both begin with uv_handle_t's fields).
    if (kind == StreamKind::unix_socket) {
        uv_pipe_init(loop, &m_io->pipe, 0);
        m_io->pipe.data = m_io;
    } else {
        uv_tcp_init(loop, &m_io->tcp);
        m_io->tcp.data = m_io;
    }
    m_io->owner = this;
}

TcpStream::~TcpStream() {
    close();
}

uv_stream_t* TcpStream::stream() {
    return reinterpret_cast<uv_stream_t*>(&m_io->tcp);
}

namespace {

/// A non-blocking socket bound to `source` with port 0. IP_BIND_ADDRESS_NO_PORT defers the
/// port choice to connect(), where the kernel picks one unique for the 4-tuple instead of
/// one unique for the local address: without it, bind reserves a port per socket and one
/// source address runs out after the ~28k ephemeral ports. Returns the fd or -errno.
int bound_socket(const sockaddr* source) {
    int fd = ::socket(source->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
    socklen_t length = source->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (::bind(fd, source, length) != 0) {
        int error = errno;
        ::close(fd);
        return -error;
    }
    return fd;
}

} // namespace

void TcpStream::connect(const sockaddr* address, const sockaddr* source) {
    m_io->connect_req.data = m_io;
    if (source != nullptr) {
        int fd = bound_socket(source);
        int rc = fd < 0 ? fd : uv_tcp_open(&m_io->tcp, fd);
        if (rc != 0) {
            if (fd >= 0) {
                ::close(fd);
            }
            m_handler.on_stream_connected(rc);
            return;
        }
    }
    int rc = uv_tcp_connect(&m_io->connect_req, &m_io->tcp, address, &TcpStream::on_connect);
    if (rc != 0) {
        m_handler.on_stream_connected(rc);
    }
}

void TcpStream::connect_unix(const std::string& path) {
    m_io->connect_req.data = m_io;
    uv_pipe_connect(&m_io->connect_req, &m_io->pipe, path.c_str(), &TcpStream::on_connect);
}

void TcpStream::on_connect(uv_connect_t* req, int status) {
    auto* io = static_cast<Io*>(req->data);
    if (io->owner != nullptr) {
        io->owner->m_handler.on_stream_connected(status);
    }
}

void TcpStream::start_reading() {
    if (m_kind == StreamKind::tcp) {
        uv_tcp_nodelay(&m_io->tcp, 1);
    }
    uv_read_start(stream(), &TcpStream::on_alloc, &TcpStream::on_read);
}

void TcpStream::stop_reading() {
    if (m_io != nullptr) {
        uv_read_stop(stream());
    }
}

void TcpStream::on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
    *buf = uv_buf_init(t_read_buffer.data(), static_cast<unsigned>(t_read_buffer.size()));
}

void TcpStream::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* io = static_cast<Io*>(stream->data);
    if (io->owner == nullptr || nread == 0) {
        return;
    }
    TcpStream& self = *io->owner;
    if (nread < 0) {
        uv_read_stop(stream);
        self.m_handler.on_stream_end(static_cast<int>(nread));
        return;
    }
    self.m_handler.on_stream_data(std::string_view(buf->base, static_cast<std::size_t>(nread)));
}

void TcpStream::write(std::string_view bytes) {
    if (m_io == nullptr || m_shutdown_requested) {
        return;
    }
    m_pending.append(bytes);
    if (!m_io->write_active) {
        flush();
    }
}

void TcpStream::flush() {
    if (m_pending.empty()) {
        return;
    }
    // Try the kernel directly first: most writes complete at once and need no request.
    uv_buf_t direct = uv_buf_init(m_pending.data(), static_cast<unsigned>(m_pending.size()));
    int written = uv_try_write(stream(), &direct, 1);
    if (written > 0) {
        m_pending.erase(0, static_cast<std::size_t>(written));
        if (m_pending.empty()) {
            return;
        }
    }
    m_io->inflight.swap(m_pending);
    m_pending.clear();
    uv_buf_t buf = uv_buf_init(m_io->inflight.data(), static_cast<unsigned>(m_io->inflight.size()));
    m_io->write_req.data = m_io;
    m_io->write_active = true;
    int rc = uv_write(&m_io->write_req, stream(), &buf, 1, &TcpStream::on_write);
    if (rc != 0) {
        m_io->write_active = false;
        m_handler.on_stream_end(rc);
    }
}

void TcpStream::on_write(uv_write_t* req, int status) {
    auto* io = static_cast<Io*>(req->data);
    io->write_active = false;
    io->inflight.clear();
    if (io->owner == nullptr) {
        return;
    }
    TcpStream& self = *io->owner;
    if (status != 0) {
        self.m_handler.on_stream_end(status);
        return;
    }
    if (!self.m_pending.empty()) {
        self.flush();
        if (io->write_active || io->owner == nullptr) {
            return; // more in flight (or the stream failed): drain comes later
        }
    }
    if (self.m_shutdown_requested) {
        io->shutdown_req.data = io;
        uv_shutdown(&io->shutdown_req, self.stream(), &TcpStream::on_shutdown);
    }
    self.m_handler.on_stream_drain();
}

void TcpStream::shutdown() {
    if (m_io == nullptr || m_shutdown_requested) {
        return;
    }
    m_shutdown_requested = true;
    if (!m_io->write_active && m_pending.empty()) {
        m_io->shutdown_req.data = m_io;
        uv_shutdown(&m_io->shutdown_req, stream(), &TcpStream::on_shutdown);
    }
}

void TcpStream::on_shutdown(uv_shutdown_t* req, int status) {
    // The peer's EOF (or an error) arrives through on_read; this only says our FIN went.
    auto* io = static_cast<Io*>(req->data);
    if (io->owner != nullptr && status != UV_ECANCELED) {
        io->owner->m_handler.on_stream_shutdown(status);
    }
}

void TcpStream::close() {
    if (m_io == nullptr) {
        return;
    }
    m_io->owner = nullptr;
    if (!m_io->write_active && !m_pending.empty()) {
        uv_buf_t last = uv_buf_init(m_pending.data(), static_cast<unsigned>(m_pending.size()));
        uv_try_write(stream(), &last, 1);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&m_io->tcp),
             [](uv_handle_t* handle) { delete static_cast<Io*>(handle->data); });
    m_io = nullptr;
    m_pending.clear();
}

std::size_t TcpStream::buffered() const {
    return m_pending.size() + (m_io != nullptr ? m_io->inflight.size() : 0);
}

std::string TcpStream::peer_name() const {
    if (m_io == nullptr) {
        return "?";
    }
    if (m_kind == StreamKind::unix_socket) {
        char path[256] = {};
        std::size_t size = sizeof(path);
        if (uv_pipe_getpeername(&m_io->pipe, path, &size) != 0 || size == 0) {
            return "unix"; // an accepted client's socket has no name
        }
        return "unix:" + std::string(path, size);
    }
    sockaddr_storage address{};
    int length = sizeof(address);
    if (uv_tcp_getpeername(&m_io->tcp, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return "?";
    }
    char host[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (address.ss_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
        uv_ip6_name(in6, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        return std::string("[") + host + "]:" + std::to_string(port);
    }
    auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
    uv_ip4_name(in4, host, sizeof(host));
    port = ntohs(in4->sin_port);
    return std::string(host) + ":" + std::to_string(port);
}

} // namespace rtx::transport
