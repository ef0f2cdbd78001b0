#include "core/url.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace rtx::core {

namespace {

// The URL as it may be shown in an error: a password in the user info becomes "***".
std::string redacted(std::string_view text) {
    auto start = text.find("://");
    start = start == std::string_view::npos ? 0 : start + 3;
    auto at = text.find('@', start);
    auto end = text.find_first_of("/?#", start);
    if (at == std::string_view::npos || (end != std::string_view::npos && at > end)) {
        return std::string(text);
    }
    auto colon = text.find(':', start);
    if (colon == std::string_view::npos || colon > at) {
        return std::string(text);
    }
    return fmt::format("{}***{}", text.substr(0, colon + 1), text.substr(at));
}

Error url_error(std::string_view text, std::string_view why) {
    return Error{ExitCode::usage, fmt::format("invalid URL '{}': {}", redacted(text), why)};
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// RFC 3986 section 2.1; a '%' not followed by two hex digits is kept as it is.
std::string percent_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(in[i]);
    }
    return out;
}

bool valid_scheme(std::string_view s) {
    if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    });
}

} // namespace

std::uint16_t default_port(std::string_view scheme) {
    if (scheme == "http" || scheme == "ws") {
        return 80;
    }
    if (scheme == "https" || scheme == "wss") {
        return 443;
    }
    if (scheme == "mqtt") {
        return 1883;
    }
    if (scheme == "mqtts") {
        return 8883;
    }
    return 0;
}

std::string Url::authority() const {
    return ipv6_literal() ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

std::string Url::target() const {
    std::string out = path;
    if (!query.empty()) {
        out.push_back('?');
        out.append(query);
    }
    return out;
}

std::string Url::to_string() const {
    return fmt::format("{}://{}{}", scheme, authority(), target());
}

Result<Url> parse_url(std::string_view text, std::string_view default_scheme) {
    Url url;
    std::string_view rest = text;
    if (rest.empty()) {
        return url_error(text, "empty");
    }
    // A scheme ends at the first "://", which must come before any '/', '?' or '#':
    // "host:80/?next=http://x" has no scheme.
    if (auto sep = rest.find("://");
        sep != std::string_view::npos && sep < rest.find_first_of("/?#")) {
        std::string scheme(rest.substr(0, sep));
        if (!valid_scheme(scheme)) {
            return url_error(text, "bad scheme");
        }
        std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        url.scheme = std::move(scheme);
        rest.remove_prefix(sep + 3);
    } else {
        url.scheme = std::string(default_scheme);
    }

    // authority ends at the first '/', '?' or '#'.
    auto auth_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, auth_end);
    std::string_view tail = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);

    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority.remove_prefix(at + 1);
        auto colon = userinfo.find(':');
        url.user = percent_decode(userinfo.substr(0, colon));
        if (colon != std::string_view::npos) {
            url.password = percent_decode(userinfo.substr(colon + 1));
        }
    }

    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return url_error(text, "missing ']' after IPv6 address");
        }
        url.host = std::string(authority.substr(1, close - 1));
        if (url.host.empty() || url.host.find(':') == std::string::npos) {
            return url_error(text, "bad IPv6 address in brackets");
        }
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return url_error(text, "unexpected text after ']'");
            }
            port_text = after.substr(1);
            if (port_text.empty()) {
                return url_error(text, "empty port");
            }
        }
    } else {
        auto colon = authority.find(':');
        if (colon != std::string_view::npos &&
            authority.find(':', colon + 1) != std::string::npos) {
            return url_error(text, "IPv6 addresses must be written in brackets, like [::1]:7000");
        }
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) {
                return url_error(text, "empty port");
            }
        }
    }
    if (url.host.empty()) {
        return url_error(text, "missing host");
    }
    for (char c : url.host) {
        if (std::isspace(static_cast<unsigned char>(c)) ||
            std::iscntrl(static_cast<unsigned char>(c))) {
            return url_error(text, "bad character in host");
        }
    }

    if (!port_text.empty()) {
        unsigned value = 0;
        auto [ptr, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || value == 0 ||
            value > 65535) {
            return url_error(text,
                             fmt::format("port '{}' is not a number from 1 to 65535", port_text));
        }
        url.port = static_cast<std::uint16_t>(value);
    } else {
        url.port = default_port(url.scheme);
        if (url.port == 0) {
            return url_error(text,
                             fmt::format("a port is required for {}:// (HOST:PORT)", url.scheme));
        }
    }

    if (auto hash = tail.find('#'); hash != std::string_view::npos) {
        tail = tail.substr(0, hash); // the fragment is never sent
    }
    auto question = tail.find('?');
    std::string_view path = tail.substr(0, question);
    url.path.assign(path.empty() ? std::string_view("/") : path);
    if (question != std::string_view::npos) {
        url.query = std::string(tail.substr(question + 1));
    }
    return url;
}

} // namespace rtx::core
