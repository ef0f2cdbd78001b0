#include "serve/access.hpp"

#include "core/encoding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace rtx::serve {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

/// Compares without stopping at the first difference (the time tells nothing of a secret).
bool same_secret(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

} // namespace

std::string_view trim_blanks(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

core::Result<Credential> parse_credential(std::string_view spec) {
    auto usage = [&](std::string_view why) {
        return core::Error{core::ExitCode::usage, fmt::format("--auth {}: {}", spec, why)};
    };
    const std::size_t colon = spec.find(':');
    const std::string_view kind = spec.substr(0, colon);
    const std::string_view rest =
        colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
    Credential out;
    if (kind == "bearer") {
        if (rest.empty() || rest.find_first_of(" \t\r\n") != std::string_view::npos) {
            return usage("bearer:TOKEN needs a token without spaces");
        }
        out.kind = Credential::Kind::bearer;
        out.token = std::string(rest);
        return out;
    }
    if (kind == "basic") {
        const std::size_t split = rest.find(':');
        if (split == std::string_view::npos || split == 0) {
            return usage("basic:USER:PASS needs a user name and a password");
        }
        out.kind = Credential::Kind::basic;
        out.user = std::string(rest.substr(0, split));
        out.password = std::string(rest.substr(split + 1));
        return out;
    }
    return usage("expected bearer:TOKEN or basic:USER:PASS");
}

bool authorized(const AccessOptions& access, std::optional<std::string_view> authorization,
                std::optional<std::string_view> access_token) {
    if (access.credentials.empty()) {
        return true;
    }
    std::string_view scheme;
    std::string_view value;
    if (authorization) {
        const std::string_view header = trim_blanks(*authorization);
        const std::size_t space = header.find(' ');
        scheme = header.substr(0, space);
        value = space == std::string_view::npos ? std::string_view()
                                                : trim_blanks(header.substr(space));
    }
    std::optional<std::string> basic;
    if (iequals(scheme, "basic")) {
        basic = core::decode_base64(value);
    }
    for (const Credential& credential : access.credentials) {
        if (credential.kind == Credential::Kind::bearer) {
            if ((iequals(scheme, "bearer") && same_secret(value, credential.token)) ||
                (access_token && same_secret(*access_token, credential.token))) {
                return true;
            }
        } else if (basic) {
            if (same_secret(*basic, credential.user + ":" + credential.password)) {
                return true;
            }
        }
    }
    return false;
}

std::string www_authenticate(const AccessOptions& access) {
    const bool bearer =
        std::any_of(access.credentials.begin(), access.credentials.end(),
                    [](const Credential& c) { return c.kind == Credential::Kind::bearer; });
    const bool basic =
        std::any_of(access.credentials.begin(), access.credentials.end(),
                    [](const Credential& c) { return c.kind == Credential::Kind::basic; });
    std::string out;
    if (bearer) {
        out = "Bearer realm=\"rtx\"";
    }
    if (basic) {
        out += fmt::format("{}Basic realm=\"rtx\", charset=\"UTF-8\"", out.empty() ? "" : ", ");
    }
    return out;
}

std::optional<CorsAnswer> cors_answer(const AccessOptions& access,
                                      std::optional<std::string_view> origin) {
    if (access.cors_origins.empty()) {
        return CorsAnswer{"*", false};
    }
    if (!origin || origin->empty()) {
        return std::nullopt; // not a cross-origin request from a browser
    }
    for (const std::string& allowed : access.cors_origins) {
        if (allowed == "*" || allowed == *origin) {
            // Credentials (cookies, Authorization, EventSource withCredentials) need the
            // origin itself, never "*" (Fetch standard, CORS check).
            return CorsAnswer{std::string(*origin), true};
        }
    }
    return std::nullopt;
}

} // namespace rtx::serve
