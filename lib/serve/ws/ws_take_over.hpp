#pragma once

#include "core/loop.hpp"
#include "serve/ws/ws_session.hpp"

#include <libwebsockets.h>

#include <cstddef>
#include <memory>
#include <string_view>

namespace rtx::serve::ws {

/// Takes over a connection lws has just upgraded (from the loop turn after
/// LWS_CALLBACK_ESTABLISHED, once lws is done with the read that held the request): lws
/// reads no more from it, Nagle's algorithm is off, and a started WsSession frames it, with
/// permessage-deflate when lws accepted one of `deflate_offers` (the client's
/// Sec-WebSocket-Extensions, kept from the upgrade request; empty: compression off). Null
/// when the socket is gone or the session cannot start: the caller lets lws drop it.
/// Shared by `rtx serve`'s WsListener and `rtx ws -l`.
std::unique_ptr<WsSession> take_over_session(core::Loop& loop, lws* wsi,
                                             std::string_view deflate_offers,
                                             std::size_t max_message, WsSessionEvents& events);

} // namespace rtx::serve::ws
