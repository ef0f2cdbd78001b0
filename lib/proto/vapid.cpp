#include "proto/vapid.hpp"

#include "core/encoding.hpp"
#include "core/url.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace rtx::proto::vapid {

namespace {

// RFC 8292 section 2.4 writes the header with typ first; a fixed string keeps that order.
constexpr std::string_view k_header = R"({"typ":"JWT","alg":"ES256"})";

std::string base64url(std::string_view bytes) {
    std::string out;
    core::append_base64url(out, bytes);
    return out;
}

core::Error refused(std::string message) {
    return core::Error{core::ExitCode::refused, std::move(message)};
}
core::Error usage(std::string message) {
    return core::Error{core::ExitCode::usage, std::move(message)};
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

} // namespace

std::string signing_input(const Claims& claims) {
    nlohmann::json body = {{"aud", claims.audience}, {"exp", claims.expires}};
    if (!claims.subject.empty()) {
        body["sub"] = claims.subject;
    }
    // nlohmann's object keeps its keys sorted: aud, exp, sub, as the RFC example has them.
    return base64url(k_header) + "." + base64url(body.dump());
}

std::string sign_token(const Claims& claims, const p256::KeyPair& key) {
    std::string input = signing_input(claims);
    std::string signature = p256::sign(key, input);
    return input + "." + base64url(signature);
}

std::string authorization(std::string_view token, std::string_view public_key) {
    std::string out = "vapid t=";
    out.append(token);
    out.append(", k=");
    core::append_base64url(out, public_key);
    return out;
}

core::Result<Credentials> parse_authorization(std::string_view value) {
    value = trim(value);
    auto space = value.find(' ');
    if (space == std::string_view::npos || !iequals(value.substr(0, space), "vapid")) {
        return refused("Authorization is not the vapid scheme (RFC 8292 section 3)");
    }
    std::string_view rest = value.substr(space + 1);
    std::string_view token;
    std::string_view key;
    // auth-params: name=value separated by commas (RFC 9110 section 11.2); t and k only.
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view param = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        auto equals = param.find('=');
        if (equals == std::string_view::npos) {
            return refused("vapid Authorization parameter without '='");
        }
        std::string_view name = trim(param.substr(0, equals));
        std::string_view text = trim(param.substr(equals + 1));
        if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
            text = text.substr(1, text.size() - 2);
        }
        if (iequals(name, "t")) {
            token = text;
        } else if (iequals(name, "k")) {
            key = text;
        }
    }
    if (token.empty() || key.empty()) {
        return refused("vapid Authorization needs both t= and k= (RFC 8292 section 3)");
    }
    auto decoded = core::decode_base64url(key);
    if (!decoded || !p256::is_valid_public_key(*decoded)) {
        return refused("vapid k= is not a base64url 65-octet P-256 public key");
    }
    return Credentials{std::string(token), std::move(*decoded)};
}

core::Result<Claims> verify_token(std::string_view token, std::string_view public_key,
                                  std::string_view audience, std::int64_t now) {
    auto first = token.find('.');
    auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return refused("the VAPID token is not a JWS compact serialization (three parts)");
    }
    auto header = core::decode_base64url(token.substr(0, first));
    auto body = core::decode_base64url(token.substr(first + 1, second - first - 1));
    auto signature = core::decode_base64url(token.substr(second + 1));
    if (!header || !body || !signature) {
        return refused("the VAPID token has a part that is not base64url");
    }
    auto header_json = nlohmann::json::parse(*header, nullptr, false);
    if (header_json.is_discarded() || !header_json.is_object() ||
        header_json.value("alg", std::string()) != "ES256") {
        return refused("the VAPID token's header is not {\"alg\":\"ES256\"} (RFC 8292 section 2)");
    }
    if (!p256::verify(public_key, token.substr(0, second), *signature)) {
        return refused("the VAPID token's signature does not verify with its k= key");
    }
    auto claims_json = nlohmann::json::parse(*body, nullptr, false);
    if (claims_json.is_discarded() || !claims_json.is_object()) {
        return refused("the VAPID token's claims are not a JSON object");
    }
    Claims claims;
    const auto aud = claims_json.find("aud");
    const auto exp = claims_json.find("exp");
    const auto sub = claims_json.find("sub");
    if (aud == claims_json.end() || !aud->is_string()) {
        return refused("the VAPID token has no aud claim");
    }
    if (exp == claims_json.end() || !exp->is_number_integer()) {
        return refused("the VAPID token has no integer exp claim");
    }
    claims.audience = aud->get<std::string>();
    claims.expires = exp->get<std::int64_t>();
    if (sub != claims_json.end()) {
        if (!sub->is_string()) {
            return refused("the VAPID token's sub claim is not a string");
        }
        claims.subject = sub->get<std::string>();
    }
    if (claims.audience != audience) {
        return refused("the VAPID token's aud is '" + claims.audience + "', not '" +
                       std::string(audience) + "'");
    }
    if (claims.expires <= now) {
        return refused("the VAPID token expired " + std::to_string(now - claims.expires) +
                       " s ago");
    }
    if (claims.expires > now + max_lifetime_seconds) {
        return refused("the VAPID token's exp is more than 24 hours ahead (RFC 8292 section 2)");
    }
    return claims;
}

core::Result<Claims> VerifiedTokens::verify(std::string_view token, std::string_view public_key,
                                            std::string_view audience, std::int64_t now) {
    std::string key;
    key.reserve(token.size() + public_key.size() + audience.size() + 3 * sizeof(std::size_t));
    for (std::string_view part : {token, public_key, audience}) {
        const std::size_t length = part.size();
        key.append(reinterpret_cast<const char*>(&length), sizeof length);
        key.append(part);
    }
    if (auto found = m_claims.find(key); found != m_claims.end()) {
        const Claims& claims = found->second;
        if (claims.expires > now) {
            return claims; // its exp was at most 24 hours ahead when it was verified
        }
        const std::int64_t ago = now - claims.expires;
        m_claims.erase(found); // `claims` is gone from here on
        return refused("the VAPID token expired " + std::to_string(ago) + " s ago");
    }
    auto claims = verify_token(token, public_key, audience, now);
    if (claims && m_capacity > 0) {
        if (m_claims.size() >= m_capacity) {
            std::erase_if(m_claims,
                          [now](const auto& entry) { return entry.second.expires <= now; });
            if (m_claims.size() >= m_capacity) {
                m_claims.clear();
            }
        }
        m_claims.emplace(std::move(key), *claims);
    }
    return claims;
}

core::Result<std::string> audience_of(std::string_view endpoint) {
    auto url = core::parse_url(endpoint, "https");
    if (!url || (url->scheme != "http" && url->scheme != "https")) {
        return usage("the endpoint '" + std::string(endpoint) + "' is not an http(s) URL");
    }
    std::string origin = url->scheme + "://";
    bool ipv6 = url->host.find(':') != std::string::npos;
    origin += ipv6 ? "[" + url->host + "]" : url->host;
    std::uint16_t default_port = url->scheme == "https" ? 443 : 80;
    if (url->port != default_port) {
        origin += ":" + std::to_string(url->port);
    }
    return origin;
}

core::Result<p256::KeyPair> parse_private_key(std::string_view text) {
    text = trim(text);
    if (text.find("-----BEGIN") != std::string_view::npos) {
        auto pair = p256::from_pem(text);
        if (!pair) {
            return usage("the VAPID key: " + pair.error().message);
        }
        return pair;
    }
    auto raw = core::decode_base64url(text);
    if (!raw) {
        return usage("the VAPID key is neither PEM nor base64url");
    }
    auto pair = p256::from_private_key(*raw);
    if (!pair) {
        return usage("the VAPID key: " + pair.error().message);
    }
    return pair;
}

} // namespace rtx::proto::vapid
