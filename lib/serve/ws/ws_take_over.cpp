#include "serve/ws/ws_take_over.hpp"

#include <openssl/ssl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

namespace rtx::serve::ws {

namespace {

/// The permessage-deflate parameters our compressor must honour, from the client's offers
/// (RFC 7692 section 7.1): lws accepts an offer and echoes its parameters, so the strictest
/// of all offers is safe whichever lws took. Inflating needs nothing: a 15-bit window with
/// context takeover reads whatever the client's compressor writes.
void apply_deflate_offers(std::string_view offers, WsSessionSettings& settings) {
    if (offers.find("server_no_context_takeover") != std::string_view::npos) {
        settings.deflate_no_context_takeover = true;
    }
    constexpr std::string_view bits = "server_max_window_bits=";
    for (auto at = offers.find(bits); at != std::string_view::npos;
         at = offers.find(bits, at + bits.size())) {
        int value = 0;
        for (std::size_t i = at + bits.size();
             i < offers.size() && offers[i] >= '0' && offers[i] <= '9' && value < 100; ++i) {
            value = value * 10 + (offers[i] - '0');
        }
        if (value >= 8 && value <= 15) {
            // zlib cannot write an 8-bit window: messages then go out uncompressed.
            settings.deflate_window_bits =
                std::min(settings.deflate_window_bits, value == 8 ? 0 : value);
        }
    }
}

} // namespace

std::unique_ptr<WsSession> take_over_session(core::Loop& loop, lws* wsi,
                                             std::string_view deflate_offers,
                                             std::size_t max_message, WsSessionEvents& events) {
    const lws_sockfd_type fd = lws_get_socket_fd(wsi);
    if (fd < 0) {
        return nullptr;
    }
    // Nagle's algorithm would hold the last small segment of a message back until the
    // peer's delayed ACK (tens of milliseconds per large echo).
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    lws_rx_flow_control(wsi, 0); // lws reads no more: every later byte is ours
    WsSessionSettings settings;
    settings.max_message = max_message;
    settings.max_queued = max_message;
    // Active only when lws accepted one of the client's offers.
    settings.deflate =
        !deflate_offers.empty() &&
        lws_set_extension_option(wsi, "permessage-deflate", "rx_buf_size", "10") == 0;
    if (settings.deflate) {
        apply_deflate_offers(deflate_offers, settings);
    }
    auto* ssl = static_cast<SSL*>(lws_get_ssl(wsi));
    if (ssl != nullptr) {
        SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    auto session = std::make_unique<WsSession>(loop, fd, ssl, settings, events);
    if (!session->start()) {
        lws_rx_flow_control(wsi, 1);
        return nullptr;
    }
    return session;
}

} // namespace rtx::serve::ws
