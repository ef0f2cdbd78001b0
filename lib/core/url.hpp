#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace rtx::core {

/// A parsed endpoint URL. Also accepts the netcat form "HOST:PORT" (scheme left to the
/// caller's default). IPv6 literals are written in brackets: "[::1]:7000".
struct Url {
    std::string scheme;   ///< Lower case: "tcp", "tls", "ws", "http", ...
    std::string user;     ///< Percent-decoded user info, if any.
    std::string password; ///< Percent-decoded, if any.
    std::string host;     ///< Without brackets for IPv6 literals.
    std::uint16_t port = 0;
    std::string path;  ///< Starts with '/' when present; "/" when the URL has none.
    std::string query; ///< Without the '?'.

    /// True when host is an IPv6 literal (it was written in brackets).
    bool ipv6_literal() const { return host.find(':') != std::string::npos; }
    /// "host:port", with brackets around IPv6 literals.
    std::string authority() const;
    /// Path plus "?query" when there is one.
    std::string target() const;
    /// The URL written back out, without user info (safe for logs).
    std::string to_string() const;
};

/// The well-known port of a scheme (http 80, https 443, ws 80, wss 443, mqtt 1883,
/// mqtts 8883); 0 when the scheme has none (tcp, tls).
std::uint16_t default_port(std::string_view scheme);

/// Parses `text`. When it has no "scheme://", `default_scheme` is used. A port is required
/// when the scheme has no default. Errors carry ExitCode::usage and say what is wrong.
Result<Url> parse_url(std::string_view text, std::string_view default_scheme);

} // namespace rtx::core
