#pragma once

#include <uv.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace rtx::transport {

/// Receives the events of a TcpStream. Loop thread only.
class StreamHandler {
public:
    virtual ~StreamHandler() = default;
    /// Bytes arrived; the view is valid only during the call (it points into a buffer shared
    /// by every stream of the loop).
    virtual void on_stream_data(std::string_view bytes) = 0;
    /// The peer closed its side (status == UV_EOF) or the stream failed (a negative libuv
    /// error). No more data follows.
    virtual void on_stream_end(int status) = 0;
    /// Every byte queued with write() has been handed to the kernel.
    virtual void on_stream_drain() {}
    /// An outgoing connect finished: 0, or a negative libuv error.
    virtual void on_stream_connected(int status) { (void)status; }
    /// The half-close asked for with shutdown() went out (0: our FIN follows the queued
    /// bytes), or failed (a negative libuv error).
    virtual void on_stream_shutdown(int status) { (void)status; }
};

/// Which kind of stream socket a TcpStream is.
enum class StreamKind {
    tcp,
    unix_socket, ///< A Unix domain stream socket (`unix:/path`): a uv_pipe_t.
};

/// A uv_tcp_t (or a Unix domain socket's uv_pipe_t) with coalescing writes, shared by the
/// TCP client and `rtx serve`.
/// Writes never allocate per call: bytes are appended to a pending buffer that goes out in
/// one uv_write as soon as the previous write completes (two buffers, swapped). Reads use
/// one 64 KiB buffer per thread, so an idle stream costs no read buffer. Loop thread only.
/// The libuv handle lives on the heap and is freed by libuv after close, so a TcpStream may
/// be destroyed at any time, even from inside one of its callbacks.
class TcpStream {
public:
    TcpStream(uv_loop_t* loop, StreamHandler& handler, StreamKind kind = StreamKind::tcp);
    ~TcpStream();
    TcpStream(const TcpStream&) = delete;
    TcpStream& operator=(const TcpStream&) = delete;

    /// For listeners: uv_accept into this handle.
    uv_stream_t* stream();
    /// Starts an outgoing connect; on_stream_connected follows. With `source`, the socket is
    /// first bound to that local address (port 0, chosen at connect time with
    /// IP_BIND_ADDRESS_NO_PORT); its family must match `address`.
    void connect(const sockaddr* address, const sockaddr* source = nullptr);
    /// Starts an outgoing connect to the Unix domain socket at `path` (a unix_socket
    /// stream); on_stream_connected follows.
    void connect_unix(const std::string& path);
    void start_reading();
    void stop_reading();
    /// Queues bytes; never blocks.
    void write(std::string_view bytes);
    /// Half-close (FIN) once queued bytes are written.
    void shutdown();
    /// Closes now. Queued bytes the kernel takes without blocking are written first (so a TLS
    /// close_notify or a last line still goes out); the rest is dropped. No callbacks follow.
    void close();
    bool closed() const { return m_io == nullptr; }
    /// Bytes queued or in flight.
    std::size_t buffered() const;
    /// "ip:port" of the peer, for logs ("unix:/path" or "unix" on a Unix domain socket).
    std::string peer_name() const;

private:
    struct Io;
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_write(uv_write_t* req, int status);
    static void on_shutdown(uv_shutdown_t* req, int status);
    static void on_connect(uv_connect_t* req, int status);
    void flush();

    Io* m_io;
    StreamHandler& m_handler;
    std::string m_pending;
    StreamKind m_kind;
    bool m_shutdown_requested = false;
};

} // namespace rtx::transport
