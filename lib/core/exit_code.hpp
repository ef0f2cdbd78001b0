#pragma once

#include <span>
#include <string_view>

namespace rtx::core {

/// The one exit-code table shared by every subcommand; documented in man/rtx.1 (EXIT STATUS).
/// Values are stable: scripts depend on them. Add new codes at the end of a group.
enum class ExitCode : int {
    ok = 0,                ///< Success: the exchange ended normally.
    failure = 1,           ///< An unexpected runtime failure (I/O error on stdin/stdout, ...).
    usage = 2,             ///< Bad command line or bad option value.
    connect_failed = 3,    ///< Name resolution or TCP connect failed (refused, unreachable).
    tls_failed = 4,        ///< TLS handshake or certificate verification failed.
    timeout = 5,           ///< --timeout or --idle-timeout expired (or a connect timed out).
    protocol_error = 6,    ///< The peer broke the protocol (bad frame, bad event stream, ...).
    connection_lost = 7,   ///< The connection was reset or dropped unexpectedly.
    http_status = 8,       ///< An HTTP request got a non-2xx status or wrong content type.
    closed_abnormally = 9, ///< The peer closed with an error code (WebSocket close >= 1002, ...).
    threshold = 10,        ///< bench: a --max-* threshold was breached.
    reconnect_exhausted = 11, ///< --reconnect gave up after --max-attempts.
    bind_failed = 12,         ///< serve: a listener could not bind its address.
    /// The server refused the session: MQTT CONNACK bad credentials, not authorized,
    /// identifier rejected, ...
    refused = 13,
    /// push: the push service answered 404 or 410: the subscription is gone, and the sender
    /// must delete it (RFC 8030 section 7.3).
    gone = 14,
    /// push: the message is over the 4096-octet limit (RFC 8291 section 4), or the push
    /// service answered 413.
    too_large = 15,
    /// push: the push service answered 429 Too Many Requests (after --retry, if given).
    rate_limited = 16,
    interrupted = 130, ///< SIGINT (Ctrl-C): connections were closed gracefully.
    terminated = 143,  ///< SIGTERM: connections were closed gracefully.
};

/// One row of the exit-code table, for --help, the man page test and diagnostics.
struct ExitCodeInfo {
    ExitCode code;
    std::string_view name;
    std::string_view meaning;
};

/// Every exit code with a one-line meaning, in numeric order.
std::span<const ExitCodeInfo> exit_code_table();

/// The process exit status for a code.
constexpr int to_int(ExitCode code) {
    return static_cast<int>(code);
}

/// The short name of a code ("connect_failed"); "unknown" if not in the table.
std::string_view exit_code_name(ExitCode code);

} // namespace rtx::core
