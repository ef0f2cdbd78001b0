#pragma once

// Glue every libwebsockets context of rtx shares (the serve side in serve/http, the client
// side in transport/ws). Internal: included by .cpp files that already use lws.

#include <uv.h>

struct lws_context;

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

} // namespace rtx::transport::ws
