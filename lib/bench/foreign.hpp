#pragma once

#include "transport/connection.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtx::transport::http {
struct HttpRequest;
}

namespace rtx::bench {

/// How a time carried in a message (--stamp-pointer) is written.
enum class TimeUnit {
    detect,  ///< A number by its magnitude (s, ms, us or ns since 1970), a string as RFC 3339.
    s,       ///< Seconds since 1970 (fractions allowed).
    ms,      ///< Milliseconds since 1970.
    us,      ///< Microseconds since 1970.
    ns,      ///< Nanoseconds since 1970.
    rfc3339, ///< "2026-12-07T02:30:00.123Z" or with an offset ("+01:00").
};

/// "detect", "s", "ms", "us", "ns", "rfc3339"; nullopt for anything else.
std::optional<TimeUnit> parse_time_unit(std::string_view text);

/// The time in `payload`, a JSON document, at JSON pointer `pointer` (RFC 6901), as
/// microseconds since 1970; nullopt when the payload is not JSON, the field is missing, or
/// it is not a time in `unit`. Pure.
std::optional<std::int64_t> message_time_us(std::string_view payload, const std::string& pointer,
                                            TimeUnit unit);

/// What `rtx bench` needs to load a server that is not `rtx serve`: subscribers connect to
/// the URL as given (subscribe-only), with the HTTP clients' headers, auth and TLS, and
/// messages are published from outside (--publish-url, --publish-cmd) or not at all.
struct ForeignOptions {
    /// Subscribers connect to the target URL as given; nothing is published through an rtx
    /// serve's /publish (only to publish_url, when set).
    bool subscribe_only = false;
    std::vector<std::string> headers; ///< "Name: value", on every request and handshake.
    std::string user;                 ///< "user:password": basic auth (mqtt: CONNECT's).
    std::string bearer;               ///< Authorization: Bearer token.
    transport::TlsOptions tls;        ///< https, wss, mqtts: trust, client certificate.
    /// A JSON pointer to the time a message was sent ("/ts"): its delivery latency is the
    /// wall clock at arrival minus that time. Empty: only rtx's own stamp gives latency.
    std::string stamp_pointer;
    TimeUnit stamp_unit = TimeUnit::detect;
    /// POST each stamped message here instead of an rtx serve's /publish/{topic}.
    std::string publish_url;
    /// A shell command whose stdout lines are the messages to publish (each stamped).
    std::string publish_cmd;

    /// Publishing happens: to publish_url or from publish_cmd (or, outside subscribe-only
    /// mode, to rtx serve).
    bool publishes() const { return !publish_url.empty() || !publish_cmd.empty(); }
};

/// Adds the headers, basic or bearer auth and TLS options to an HTTP request.
void apply_foreign_http(const ForeignOptions& foreign, transport::http::HttpRequest& request);

/// The WebSocket handshake headers for the headers and auth ("Name", "value" pairs).
std::vector<std::pair<std::string, std::string>> foreign_ws_headers(const ForeignOptions& foreign);

} // namespace rtx::bench
