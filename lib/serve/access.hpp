#pragma once

#include "core/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::serve {

/// One credential `--auth` accepts on the HTTP and WebSocket endpoints.
struct Credential {
    enum class Kind { bearer, basic };
    Kind kind = Kind::bearer;
    std::string token;    ///< bearer: the token.
    std::string user;     ///< basic: the user name,
    std::string password; ///< and its password.
};

/// Who may use the HTTP and WebSocket endpoints, and which other origins may read them.
struct AccessOptions {
    /// Any one of them lets a request in; empty: no authentication.
    std::vector<Credential> credentials;
    /// Only what publishes (POST /publish, a message sent on /ws/{topic}) needs credentials.
    bool publish_only = false;
    /// Origins allowed to read responses from a page (CORS); empty: any, without
    /// credentials (Access-Control-Allow-Origin: *); "*": any, with credentials.
    std::vector<std::string> cors_origins;
};

/// `text` without the spaces and tabs at either end (RFC 9110 section 5.6.3, OWS). Pure.
std::string_view trim_blanks(std::string_view text);

/// Parses `bearer:TOKEN` or `basic:USER:PASS` (the password may hold colons; the user may
/// not, RFC 7617 section 2). ExitCode::usage with a one-line message otherwise. Pure.
core::Result<Credential> parse_credential(std::string_view spec);

/// True when no credentials are configured, or the Authorization header (`Bearer T`,
/// `Basic base64(user:pass)`; scheme names are case-insensitive, RFC 9110 section 11.1) or
/// the `access_token` query argument (for EventSource and WebSocket in a browser, which
/// cannot set headers; RFC 6750 section 2.3) matches one of them. Pure.
bool authorized(const AccessOptions& access, std::optional<std::string_view> authorization,
                std::optional<std::string_view> access_token);

/// The WWW-Authenticate value of a 401: one challenge per kind configured (RFC 9110
/// section 11.6.1), e.g. `Bearer realm="rtx", Basic realm="rtx", charset="UTF-8"`. Pure.
std::string www_authenticate(const AccessOptions& access);

/// What a response to a request from `origin` carries as Access-Control-Allow-Origin, and
/// whether it allows credentials; nullopt: no CORS headers (the origin is not allowed).
struct CorsAnswer {
    std::string allow_origin;
    bool credentials = false;
};
std::optional<CorsAnswer> cors_answer(const AccessOptions& access,
                                      std::optional<std::string_view> origin);

} // namespace rtx::serve
