#include "serve/socket_address.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

namespace rtx::serve {

using core::Error;
using core::ExitCode;

core::Result<bool> SocketAddress::to_sockaddr(sockaddr_storage& out) const {
    std::string literal = host == "localhost" ? "127.0.0.1" : host;
    if (uv_ip4_addr(literal.c_str(), port, reinterpret_cast<sockaddr_in*>(&out)) == 0 ||
        uv_ip6_addr(literal.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out)) == 0) {
        return true;
    }
    return Error{
        ExitCode::usage,
        fmt::format("--bind '{}': not an IP address (examples: 127.0.0.1, ::1, 0.0.0.0)", host)};
}

std::string SocketAddress::authority() const {
    return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                               : fmt::format("{}:{}", host, port);
}

int listen_backlog() {
    // Linux silently caps a listen backlog at net.core.somaxconn (4096 by default since
    // 5.4; hosts that take many connections raise it). Asking for exactly that makes the
    // accept queue as deep as this host allows; a fixed 4096 would stay at 4096 there.
    static const int backlog = [] {
        int value = 0;
        std::ifstream file("/proc/sys/net/core/somaxconn");
        if (!(file >> value) || value <= 0) {
            value = k_fallback_backlog;
        }
        return std::min(value, 65535);
    }();
    return backlog;
}

core::Result<std::uint16_t> bind_and_listen(uv_tcp_t* handle, const SocketAddress& address,
                                            uv_connection_cb on_connection) {
    sockaddr_storage storage{};
    auto parsed = address.to_sockaddr(storage);
    if (!parsed) {
        return parsed.error();
    }
    auto fail = [&](int rc) {
        return Error{ExitCode::bind_failed,
                     fmt::format("listen on {}: {}", address.authority(), uv_strerror(rc))};
    };
    // No IPV6ONLY: "--bind ::" takes IPv4 clients too, as users of 0.0.0.0 expect.
    if (int rc = uv_tcp_bind(handle, reinterpret_cast<const sockaddr*>(&storage), 0); rc != 0) {
        return fail(rc);
    }
    const int backlog = listen_backlog();
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle), backlog, on_connection);
        rc != 0) {
        return fail(rc);
    }
    sockaddr_storage bound{};
    int length = sizeof(bound);
    uv_tcp_getsockname(handle, reinterpret_cast<sockaddr*>(&bound), &length);
    auto port = bound.ss_family == AF_INET6
                    ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                    : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    return static_cast<std::uint16_t>(port);
}

} // namespace rtx::serve
