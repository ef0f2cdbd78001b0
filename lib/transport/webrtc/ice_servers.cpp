#include "transport/webrtc/ice_servers.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <charconv>

namespace rtx::transport::webrtc {

namespace {

core::Error malformed(std::string_view what, std::string_view text, std::string_view form) {
    return core::Error{core::ExitCode::usage,
                       fmt::format("{} {}: expected {}", what, text.substr(0, 200), form)};
}

// "HOST[:PORT]" or "[V6][:PORT]" into `server`; false when malformed.
bool parse_host_port(std::string_view text, IceServer& server) {
    std::string_view host = text;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port = rest.substr(1);
            if (port.empty()) {
                return false;
            }
        }
    } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
        if (text.find(':') != colon) {
            return false; // an IPv6 literal needs brackets
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (port.empty()) {
            return false;
        }
    }
    if (host.empty() || host.find_first_of(" \t/@") != std::string_view::npos) {
        return false;
    }
    server.host = std::string(host);
    if (!port.empty()) {
        unsigned value = 0;
        auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (error != std::errc() || end != port.data() + port.size() || value == 0 ||
            value > 65535) {
            return false;
        }
        server.port = static_cast<std::uint16_t>(value);
    }
    return true;
}

} // namespace

core::Result<IceServer> parse_stun_server(std::string_view text) {
    constexpr std::string_view form = "HOST:PORT or [IPv6]:PORT";
    std::string_view rest = text;
    if (rest.starts_with("stun:")) {
        rest.remove_prefix(5);
    }
    IceServer server;
    if (!parse_host_port(rest, server)) {
        return malformed("--stun", text, form);
    }
    return server;
}

core::Result<IceServer> parse_turn_server(std::string_view text) {
    constexpr std::string_view form = "turn:USER:PASS@HOST:PORT";
    std::string_view rest = text;
    if (rest.starts_with("turn:")) {
        rest.remove_prefix(5);
    }
    auto at = rest.rfind('@');
    if (at == std::string_view::npos) {
        return malformed("--turn", text, form);
    }
    std::string_view credentials = rest.substr(0, at);
    auto colon = credentials.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return malformed("--turn", text, form);
    }
    IceServer server;
    server.username = std::string(credentials.substr(0, colon));
    server.password = std::string(credentials.substr(colon + 1));
    if (!parse_host_port(rest.substr(at + 1), server)) {
        return malformed("--turn", text, form);
    }
    return server;
}

core::Result<std::string> resolve_ice_host(const std::string& host) {
    in_addr v4{};
    in6_addr v6{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        return host;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    int status = getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (status != 0 || found == nullptr) {
        return core::Error{core::ExitCode::connect_failed,
                           fmt::format("cannot resolve {}: {}", host, gai_strerror(status))};
    }
    char buffer[INET6_ADDRSTRLEN] = {};
    const void* address =
        found->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr);
    const char* text = inet_ntop(found->ai_family, address, buffer, sizeof buffer);
    freeaddrinfo(found);
    if (text == nullptr) {
        return core::Error{core::ExitCode::connect_failed, fmt::format("cannot resolve {}", host)};
    }
    return std::string(text);
}

} // namespace rtx::transport::webrtc
