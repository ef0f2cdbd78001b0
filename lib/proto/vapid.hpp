#pragma once
// VAPID (RFC 8292): the application server's identity as an ES256-signed JWT (RFC 7519,
// RFC 7515) in `Authorization: vapid t=<JWT>, k=<public key>`, and the VAPID key codecs
// (base64url raw keys as `web-push generate-vapid-keys` prints them, and PEM). Pure: the
// caller passes the time.
#include "core/error.hpp"
#include "proto/p256.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rtx::proto::vapid {

/// A token lives at most 24 hours (RFC 8292 section 2).
inline constexpr std::int64_t max_lifetime_seconds = 24 * 60 * 60;

/// The JWT claims VAPID uses (RFC 8292 section 2).
struct Claims {
    std::string audience;     ///< aud: the origin of the push resource
    std::int64_t expires = 0; ///< exp: seconds since the epoch
    std::string subject;      ///< sub: a mailto: or https: contact (optional, "" when absent)
};

/// The JWS signing input "header.claims" (RFC 7515 section 5.1): deterministic, so the
/// RFC 8292 section 2.4 example is reproduced exactly.
std::string signing_input(const Claims& claims);
/// A complete signed token: signing input, '.', base64url r || s.
std::string sign_token(const Claims& claims, const p256::KeyPair& key);

/// The Authorization header value: "vapid t=TOKEN, k=KEY" (RFC 8292 section 3).
std::string authorization(std::string_view token, std::string_view public_key);

/// The two parameters of a vapid Authorization header, k decoded.
struct Credentials {
    std::string token;
    std::string public_key; ///< 65 octets, checked to be a curve point
};
/// Parses an Authorization header value; fails unless the scheme is vapid with t and k.
core::Result<Credentials> parse_authorization(std::string_view value);

/// Verifies a token as a push service does (RFC 8292 section 4.2): ES256 under `public_key`,
/// aud equal to `audience`, exp in the future but no more than 24 hours ahead of `now`.
/// Fails with a one-line reason (ExitCode::refused).
core::Result<Claims> verify_token(std::string_view token, std::string_view public_key,
                                  std::string_view audience, std::int64_t now);

/// verify_token with a memory of the tokens it accepted, as a push service keeps one: a
/// sender reuses its token for many pushes (RFC 8292 section 2 lets it live up to 24 hours),
/// and the same token bytes under the same key and audience verify the same way every time, so
/// only exp is checked again against `now`. A refused token is not remembered. Holds at most
/// `capacity` tokens: when full, the expired ones go, and if none had, all of them.
class VerifiedTokens {
public:
    explicit VerifiedTokens(std::size_t capacity = 1024)
        : m_capacity(capacity) {}
    core::Result<Claims> verify(std::string_view token, std::string_view public_key,
                                std::string_view audience, std::int64_t now);
    std::size_t size() const { return m_claims.size(); }

private:
    std::size_t m_capacity;
    /// token, key and audience, each with its length in front -> the claims it verified to.
    std::unordered_map<std::string, Claims> m_claims;
};

/// The aud for an endpoint URL: its origin, scheme://host[:port] without a default port
/// (RFC 6454 section 6.1). Fails for a URL that is not http(s).
core::Result<std::string> audience_of(std::string_view endpoint);

/// A VAPID private key as typed: PEM, or base64url of the 32-octet scalar. Fails with usage.
core::Result<p256::KeyPair> parse_private_key(std::string_view text);

} // namespace rtx::proto::vapid
