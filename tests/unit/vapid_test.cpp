// Tests for proto/vapid.hpp and proto/p256.hpp: the RFC 8292 section 2.4 token, JWT signing
// and verification, the Authorization header, origins, and the key codecs.
#include "core/encoding.hpp"
#include "proto/vapid.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using rtx::core::ExitCode;
namespace vapid = rtx::proto::vapid;
namespace p256 = rtx::proto::p256;

namespace {

// RFC 8292 section 2.4.
constexpr std::string_view k_token =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9."
    "eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdX"
    "NoQGV4YW1wbGUuY29tIn0."
    "i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA";
constexpr std::string_view k_key =
    "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
constexpr std::int64_t k_exp = 1453523768;

std::string b64(std::string_view text) {
    auto decoded = rtx::core::decode_base64url(text);
    REQUIRE(decoded.has_value());
    return *decoded;
}

vapid::Claims rfc_claims() {
    return vapid::Claims{"https://push.example.net", k_exp, "mailto:push@example.com"};
}

} // namespace

TEST_CASE("vapid: the RFC 8292 section 2.4 token, its signing input and its signature") {
    CHECK(vapid::signing_input(rfc_claims()) == k_token.substr(0, k_token.rfind('.')));
    auto claims = vapid::verify_token(k_token, b64(k_key), "https://push.example.net", k_exp - 60);
    REQUIRE(claims.ok());
    CHECK(claims->subject == "mailto:push@example.com");
    CHECK(claims->expires == k_exp);

    std::string header = "vapid t=" + std::string(k_token) + ", k=" + std::string(k_key);
    CHECK(vapid::authorization(k_token, b64(k_key)) == header);
    auto credentials = vapid::parse_authorization(header);
    REQUIRE(credentials.ok());
    CHECK(credentials->token == k_token);
    CHECK(credentials->public_key == b64(k_key));
    // Scheme names are case-insensitive; parameters may be spaced and quoted (RFC 9110 11.2).
    auto spaced = vapid::parse_authorization("Vapid k=\"" + std::string(k_key) +
                                             "\" ,  t=" + std::string(k_token));
    REQUIRE(spaced.ok());
    CHECK(spaced->token == k_token);
}

TEST_CASE("vapid: verification refuses expired, far-future, wrong-audience and forged tokens") {
    auto refused = [](std::string_view token, std::string_view key, std::string_view aud,
                      std::int64_t now) {
        auto result = vapid::verify_token(token, key, aud, now);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ExitCode::refused);
        return result.error().message;
    };
    std::string key = b64(k_key);
    CHECK(refused(k_token, key, "https://push.example.net", k_exp + 5).find("expired") !=
          std::string::npos);
    CHECK(refused(k_token, key, "https://push.example.net", k_exp - 25 * 3600).find("24 hours") !=
          std::string::npos);
    CHECK(refused(k_token, key, "https://other.example", k_exp - 60).find("aud") !=
          std::string::npos);
    CHECK(refused(k_token, p256::generate().public_key, "https://push.example.net", k_exp - 60)
              .find("signature") != std::string::npos);
    std::string forged(k_token);
    forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
    refused(forged, key, "https://push.example.net", k_exp - 60);
    refused("a.b", key, "https://push.example.net", 0);
    refused("a.b.c.d", key, "https://push.example.net", 0);
    refused("!.!.!", key, "https://push.example.net", 0);

    // A token signed here: alg none or HS256 in the header is refused before the signature.
    p256::KeyPair pair = p256::generate();
    std::string none = "eyJhbGciOiJub25lIn0." + std::string(k_token.substr(37));
    CHECK(refused(none, pair.public_key, "https://push.example.net", k_exp - 60).find("ES256") !=
          std::string::npos);
}

TEST_CASE("vapid: tokens signed here verify, and signatures are r || s of 64 octets") {
    p256::KeyPair pair = p256::generate();
    vapid::Claims claims{"http://127.0.0.1:8080", 1'000'000, "mailto:ops@example.org"};
    std::string token = vapid::sign_token(claims, pair);
    CHECK(b64(token.substr(token.rfind('.') + 1)).size() == 64);
    auto verified = vapid::verify_token(token, pair.public_key, "http://127.0.0.1:8080", 999'000);
    REQUIRE(verified.ok());
    CHECK(verified->audience == claims.audience);
    CHECK(!p256::verify(pair.public_key, "other", b64(token.substr(token.rfind('.') + 1))));
    vapid::Claims anonymous{"https://a.example", 5, ""};
    CHECK(vapid::signing_input(anonymous).find('.') != std::string::npos);
    CHECK(vapid::verify_token(vapid::sign_token(anonymous, pair), pair.public_key,
                              "https://a.example", 1)
              ->subject.empty());
}

TEST_CASE("vapid: VerifiedTokens answers as verify_token does, checks exp again, stays bounded") {
    p256::KeyPair pair = p256::generate();
    p256::KeyPair other = p256::generate();
    const std::string aud = "http://127.0.0.1:8080";
    std::string token = vapid::sign_token(vapid::Claims{aud, 1'000, "mailto:a@example.org"}, pair);
    vapid::VerifiedTokens tokens(3);
    for (int i = 0; i < 2; ++i) { // the second time from the memory, same answer
        auto claims = tokens.verify(token, pair.public_key, aud, 900);
        REQUIRE(claims.ok());
        CHECK(claims->expires == 1'000);
        CHECK(claims->subject == "mailto:a@example.org");
        CHECK(tokens.size() == 1);
    }
    // The same bytes under another key or audience are not the remembered token.
    CHECK(tokens.verify(token, other.public_key, aud, 900).error().code == ExitCode::refused);
    CHECK(tokens.verify(token, pair.public_key, "http://127.0.0.1:8081", 900).error().code ==
          ExitCode::refused);
    // A changed signature is verified, not looked up, and refused; nor is it remembered.
    std::string forged = token;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    CHECK_FALSE(tokens.verify(forged, pair.public_key, aud, 900).ok());
    CHECK(tokens.size() == 1);
    // exp is checked on every use: past it the remembered token is refused and forgotten.
    auto late = tokens.verify(token, pair.public_key, aud, 1'000);
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().message.find("expired") != std::string::npos);
    CHECK(tokens.size() == 0);
    // Never more than the capacity.
    for (std::int64_t exp = 2'000; exp < 2'010; ++exp) {
        REQUIRE(tokens
                    .verify(vapid::sign_token(vapid::Claims{aud, exp, ""}, pair), pair.public_key,
                            aud, 1'500)
                    .ok());
        CHECK(tokens.size() <= 3);
    }
}

TEST_CASE("vapid: parse_authorization refuses other schemes and missing parameters") {
    for (std::string_view value : {"Bearer abc", "vapid", "vapid t=abc", "vapid k=abc",
                                   "WebPush abc", "vapid t=a.b.c, k=AAAA", "vapid t=a.b.c k"}) {
        CAPTURE(value);
        auto result = vapid::parse_authorization(value);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ExitCode::refused);
    }
}

TEST_CASE("vapid: audience_of is the endpoint's origin (RFC 6454)") {
    CHECK(*vapid::audience_of("https://fcm.googleapis.com/fcm/send/abc") ==
          "https://fcm.googleapis.com");
    CHECK(*vapid::audience_of("https://push.example.net:443/p/x") == "https://push.example.net");
    CHECK(*vapid::audience_of("http://127.0.0.1:8080/push/x?y") == "http://127.0.0.1:8080");
    CHECK(*vapid::audience_of("http://[::1]:9/x") == "http://[::1]:9");
    CHECK(vapid::audience_of("ws://x/").error().code == ExitCode::usage);
}

TEST_CASE("p256 and vapid keys: raw base64url, PEM, and the refusals") {
    // The private key of RFC 8291 Appendix A's user agent and its public key.
    auto pair = vapid::parse_private_key("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94\n");
    REQUIRE(pair.ok());
    std::string encoded;
    rtx::core::append_base64url(encoded, pair->public_key);
    CHECK(
        encoded ==
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");

    std::string pem = p256::private_key_pem(*pair);
    CHECK(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
    auto again = vapid::parse_private_key(pem);
    REQUIRE(again.ok());
    CHECK(again->private_key == pair->private_key);
    CHECK(again->public_key == pair->public_key);
    CHECK(p256::public_key_pem(*pair).rfind("-----BEGIN PUBLIC KEY-----\n", 0) == 0);

    auto usage = [](std::string_view text) {
        auto result = vapid::parse_private_key(text);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ExitCode::usage);
        return result.error().message;
    };
    CHECK(usage("AAAA").find("32 octets") != std::string::npos);
    CHECK(usage("not a key!").find("base64url") != std::string::npos);
    CHECK(usage(std::string(43, 'A')).find("range") != std::string::npos);       // zero
    CHECK(usage(std::string(42, '_') + "8").find("range") != std::string::npos); // >= n
    CHECK(usage("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").find("PEM") !=
          std::string::npos);

    p256::KeyPair fresh = p256::generate();
    CHECK(fresh.private_key.size() == 32);
    CHECK(p256::is_valid_public_key(fresh.public_key));
    CHECK_FALSE(p256::is_valid_public_key(fresh.public_key.substr(1)));
    CHECK_FALSE(p256::is_valid_public_key(std::string(65, '\x04')));
}
