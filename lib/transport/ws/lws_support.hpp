#pragma once

// Glue every libwebsockets context of rtx shares (the serve side in serve/http, the client
// side in transport/ws). Internal: included by .cpp files that already use lws.

#include <uv.h>

#include <cstddef>

struct lws_context;
typedef struct ssl_st SSL;

namespace rtx::transport::ws {

/// Routes lws's log lines to rtx diagnostics: errors and warnings at -v, notices at -vv,
/// never on stdout. Idempotent; call before creating a context.
void route_lws_logs();

/// True while some handle of `loop` waits for its close callback.
bool loop_handles_closing(uv_loop_t* loop);

/// Frees an lws context that runs on a foreign libuv loop, as lws 4.1 needs it: the first
/// lws_context_destroy() closes every connection and lws's own handles; the second, once
/// libuv has run their close callbacks (their code lives in the event-lib plugin), frees
/// the rest and writes null to `*context` (the creation info's pcontext). Runs the loop
/// itself (UV_RUN_NOWAIT), so it must not be called from inside a loop callback.
void destroy_lws_context_now(uv_loop_t* loop, lws_context** context);

/// What one read from a socket lws handed over (rtx ws and rtx serve frame their own
/// WebSocket frames after lws's handshake) gave.
struct SocketRead {
    enum Status { data, would_block, end } status;
    std::size_t size = 0; ///< Bytes read, for `data`.
};

/// Reads once from `fd`, or through lws's TLS session `ssl` when not null: data, nothing
/// now (EAGAIN or TLS wants more), or the end (EOF, close_notify, an error).
SocketRead read_socket(int fd, SSL* ssl, char* buffer, std::size_t size);

} // namespace rtx::transport::ws
