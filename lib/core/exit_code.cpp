#include "core/exit_code.hpp"

#include <array>

namespace rtx::core {

namespace {
constexpr std::array k_table{
    ExitCodeInfo{ExitCode::ok, "ok", "success"},
    ExitCodeInfo{ExitCode::failure, "failure", "unexpected runtime failure"},
    ExitCodeInfo{ExitCode::usage, "usage", "bad command line or option value"},
    ExitCodeInfo{ExitCode::connect_failed, "connect_failed",
                 "name resolution or connect failed (refused, unreachable)"},
    ExitCodeInfo{ExitCode::tls_failed, "tls_failed", "TLS handshake or certificate check failed"},
    ExitCodeInfo{ExitCode::timeout, "timeout", "--timeout, --idle-timeout or connect timeout"},
    ExitCodeInfo{ExitCode::protocol_error, "protocol_error", "the peer broke the protocol"},
    ExitCodeInfo{ExitCode::connection_lost, "connection_lost",
                 "connection reset or dropped unexpectedly"},
    ExitCodeInfo{ExitCode::http_status, "http_status",
                 "HTTP status not 2xx, or wrong content type"},
    ExitCodeInfo{ExitCode::closed_abnormally, "closed_abnormally",
                 "the peer closed with an error code"},
    ExitCodeInfo{ExitCode::threshold, "threshold", "bench: a --max-* threshold was breached"},
    ExitCodeInfo{ExitCode::reconnect_exhausted, "reconnect_exhausted",
                 "--reconnect gave up after --max-attempts"},
    ExitCodeInfo{ExitCode::bind_failed, "bind_failed", "serve: a listener could not bind"},
    ExitCodeInfo{ExitCode::refused, "refused",
                 "the server refused the session (MQTT CONNACK: bad credentials, not authorized, "
                 "identifier rejected, ...)"},
    ExitCodeInfo{ExitCode::gone, "gone", "push: the subscription is gone (404, 410): delete it"},
    ExitCodeInfo{ExitCode::too_large, "too_large",
                 "push: the message is over 4096 octets, or the service answered 413"},
    ExitCodeInfo{ExitCode::rate_limited, "rate_limited",
                 "push: the service answered 429 Too Many Requests"},
    ExitCodeInfo{ExitCode::interrupted, "interrupted", "SIGINT: closed gracefully"},
    ExitCodeInfo{ExitCode::terminated, "terminated", "SIGTERM: closed gracefully"},
};
} // namespace

std::span<const ExitCodeInfo> exit_code_table() {
    return k_table;
}

std::string_view exit_code_name(ExitCode code) {
    for (const auto& row : k_table) {
        if (row.code == code) {
            return row.name;
        }
    }
    return "unknown";
}

} // namespace rtx::core
