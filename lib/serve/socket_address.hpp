#pragma once

#include "core/error.hpp"

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtx::serve {

/// A bind address: an IPv4 or IPv6 literal (or "localhost") and a port (0: any free port).
struct SocketAddress {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;

    /// Fills `out` (sockaddr_in or sockaddr_in6); usage error if host is not an IP literal.
    core::Result<bool> to_sockaddr(sockaddr_storage& out) const;
    /// "127.0.0.1:7070" or "[::1]:7070".
    std::string authority() const;
};

/// The listen backlog where net.core.somaxconn cannot be read (the Linux default).
inline constexpr int k_fallback_backlog = 4096;

/// The backlog every listener asks for: net.core.somaxconn, the most Linux grants (read
/// once per process).
int listen_backlog();

/// Binds `handle` to `address` and listens with listen_backlog(); returns the actually
/// bound port.
core::Result<std::uint16_t> bind_and_listen(uv_tcp_t* handle, const SocketAddress& address,
                                            uv_connection_cb on_connection);

} // namespace rtx::serve
