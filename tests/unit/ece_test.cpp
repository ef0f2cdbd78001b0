// Tests for proto/ece.hpp: RFC 8188 section 3 and RFC 8291 Appendix A, byte for byte, and
// the decryptor's refusals (truncation, bad delimiters, wrong keys, oversize).
#include "core/encoding.hpp"
#include "proto/ece.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using rtx::core::ExitCode;
namespace ece = rtx::proto::ece;
namespace p256 = rtx::proto::p256;

namespace {

std::string b64(std::string_view text) {
    auto decoded = rtx::core::decode_base64url(text);
    REQUIRE(decoded.has_value());
    return *decoded;
}

std::string enc(std::string_view bytes) {
    std::string out;
    rtx::core::append_base64url(out, bytes);
    return out;
}

// RFC 8291 section 5 and Appendix A.
constexpr std::string_view k_plaintext = "When I grow up, I want to be a watermelon";
constexpr std::string_view k_ua_public =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr std::string_view k_ua_private = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
constexpr std::string_view k_as_public =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
constexpr std::string_view k_as_private = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr std::string_view k_auth = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr std::string_view k_salt = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr std::string_view k_body =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY"
    "WAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexS"
    "gSxsj_Qulcy4a-fN";

p256::KeyPair key_pair(std::string_view private_key) {
    auto pair = p256::from_private_key(b64(private_key));
    REQUIRE(pair.ok());
    return pair.value();
}

} // namespace

TEST_CASE("aes128gcm: RFC 8188 section 3.1, one record, with its intermediate values") {
    std::string ikm = b64("yqdlZ-tYemfogSmv7Ws5PQ");
    std::string salt = b64("I1BsxtFttlv3u_Oo94xnmw");
    CHECK(enc(ece::hkdf_extract(salt, ikm)) == "zyeH5phsIsgUyd4oiSEIy35x-gIi4aM7y0hCF8mwn9g");
    auto keys = ece::derive_content_keys(ikm, salt);
    CHECK(enc(keys.cek) == "_wniytB-ofscZDh4tbSjHw");
    CHECK(enc(keys.nonce) == "Bcs8gkIRKLI8GeI8");

    ece::EncryptParams params;
    params.ikm = ikm;
    params.salt = salt;
    params.record_size = 4096;
    auto body = ece::encrypt("I am the walrus", params);
    REQUIRE(body.ok());
    constexpr std::string_view expected =
        "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg";
    CHECK(enc(*body) == expected);
    auto plain = ece::decrypt(b64(expected), ikm);
    REQUIRE(plain.ok());
    CHECK(*plain == "I am the walrus");
}

TEST_CASE("aes128gcm: RFC 8188 section 3.2, two records of 25 octets, keyid and padding") {
    std::string ikm = b64("BO3ZVPxUlnLORbVGMpbT1Q");
    constexpr std::string_view expected =
        "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJF"
        "jEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA";
    std::string wire = b64(expected);
    REQUIRE(wire.size() == 73);
    auto header = ece::parse_header(wire);
    REQUIRE(header.ok());
    CHECK(header->record_size == 25);
    CHECK(header->keyid == "a1");
    CHECK(header->size == 23);

    ece::EncryptParams params;
    params.ikm = ikm;
    params.salt = header->salt;
    params.keyid = "a1";
    params.record_size = 25;
    params.padding = 1;
    auto body = ece::encrypt("I am the walrus", params);
    REQUIRE(body.ok());
    CHECK(enc(*body) == expected);
    auto plain = ece::decrypt(wire, ikm);
    REQUIRE(plain.ok());
    CHECK(*plain == "I am the walrus");
}

TEST_CASE("aes128gcm: the decryptor refuses what RFC 8188 forbids") {
    std::string ikm = b64("BO3ZVPxUlnLORbVGMpbT1Q");
    std::string wire = b64("uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjEDyoF1Fvkj"
                           "6hQPdPHI51OEUKEpgz3SsLWIqS_uA");
    auto refused = [&](std::string_view body, std::string_view key = {}) {
        auto result = ece::decrypt(body, key.empty() ? std::string_view(ikm) : key);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ExitCode::protocol_error);
        CHECK(result.error().message.find('\n') == std::string::npos);
        return result.error().message;
    };
    SUBCASE("truncated after the first record") {
        CHECK(refused(wire.substr(0, 23 + 25)).find("truncated") != std::string::npos);
    }
    SUBCASE("a record cut short") {
        refused(wire.substr(0, wire.size() - 1));
    }
    SUBCASE("a flipped ciphertext bit") {
        wire[30] = static_cast<char>(wire[30] ^ 1);
        CHECK(refused(wire).find("does not decrypt") != std::string::npos);
    }
    SUBCASE("the wrong key") {
        refused(wire, "0123456789abcdef");
    }
    SUBCASE("a header alone, a short header, rs under 18") {
        refused(wire.substr(0, 23));
        refused(wire.substr(0, 20));
        std::string small = wire;
        small[19] = 17;
        CHECK(refused(small).find("under 18") != std::string::npos);
    }
    SUBCASE("a keyid longer than the body") {
        wire[20] = '\x7f';
        refused(wire.substr(0, 60));
    }
}

TEST_CASE("aes128gcm: round trips with records, padding and an empty message") {
    std::string ikm(16, 'k');
    std::string salt(16, 's');
    for (std::uint32_t rs : {18u, 19u, 40u, 4096u}) {
        for (std::size_t padding : {0u, 1u, 5u, 60u}) {
            for (std::string_view text : {"", "x", "a somewhat longer message across records"}) {
                ece::EncryptParams params;
                params.ikm = ikm;
                params.salt = salt;
                params.record_size = rs;
                params.padding = padding;
                auto body = ece::encrypt(text, params);
                REQUIRE(body.ok());
                auto plain = ece::decrypt(*body, ikm);
                CAPTURE(rs);
                CAPTURE(padding);
                REQUIRE(plain.ok());
                CHECK(*plain == text);
            }
        }
    }
    ece::EncryptParams bad;
    bad.ikm = ikm;
    bad.salt = "short";
    CHECK(ece::encrypt("x", bad).error().code == ExitCode::usage);
    bad.salt = salt;
    bad.record_size = 17;
    CHECK(ece::encrypt("x", bad).error().code == ExitCode::usage);
}

TEST_CASE("webpush: RFC 8291 Appendix A, every intermediate and the body") {
    p256::KeyPair ua = key_pair(k_ua_private);
    p256::KeyPair as = key_pair(k_as_private);
    CHECK(enc(ua.public_key) == k_ua_public);
    CHECK(enc(as.public_key) == k_as_public);

    auto secret = p256::ecdh(as, ua.public_key);
    REQUIRE(secret.ok());
    CHECK(enc(*secret) == "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs");
    auto mirrored = p256::ecdh(ua, as.public_key);
    REQUIRE(mirrored.ok());
    CHECK(*mirrored == *secret);

    std::string ikm = ece::webpush_ikm(*secret, b64(k_auth), ua.public_key, as.public_key);
    CHECK(enc(ikm) == "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg");
    CHECK(enc(ece::hkdf_extract(b64(k_salt), ikm)) ==
          "09_eUZGrsvxChDCGRCdkLiDXrReGOEVeSCdCcPBSJSc");
    auto keys = ece::derive_content_keys(ikm, b64(k_salt));
    CHECK(enc(keys.cek) == "oIhVW04MRdy2XN9CiKLxTg");
    CHECK(enc(keys.nonce) == "4h_95klXJ5E_qnoN");

    auto body = ece::webpush_encrypt(k_plaintext, ua.public_key, b64(k_auth), as, b64(k_salt));
    REQUIRE(body.ok());
    CHECK(enc(*body) == k_body);
    CHECK(body->size() == 144);

    auto plain = ece::webpush_decrypt(b64(k_body), ua, b64(k_auth));
    REQUIRE(plain.ok());
    CHECK(*plain == k_plaintext);
}

TEST_CASE("webpush: fresh keys round trip; limits and bad keys are refused") {
    p256::KeyPair ua = p256::generate();
    std::string auth(16, 'a');
    std::string salt(16, 's');
    std::string largest(ece::webpush_max_plaintext, 'x');
    auto body = ece::webpush_encrypt(largest, ua.public_key, auth, p256::generate(), salt);
    REQUIRE(body.ok());
    CHECK(body->size() == 4096);
    auto plain = ece::webpush_decrypt(*body, ua, auth);
    REQUIRE(plain.ok());
    CHECK(*plain == largest);

    auto over = ece::webpush_encrypt(largest + "x", ua.public_key, auth, p256::generate(), salt);
    REQUIRE_FALSE(over.ok());
    CHECK(over.error().code == ExitCode::too_large);
    CHECK(ece::webpush_encrypt("hi", ua.public_key, "short", p256::generate(), salt).error().code ==
          ExitCode::usage);
    std::string off_curve = ua.public_key;
    off_curve[40] = static_cast<char>(off_curve[40] ^ 0xFF);
    CHECK(ece::webpush_encrypt("hi", off_curve, auth, p256::generate(), salt).error().code ==
          ExitCode::usage);
    CHECK(ece::webpush_encrypt("hi", ua.public_key.substr(0, 64), auth, p256::generate(), salt)
              .error()
              .code == ExitCode::usage);

    auto wrong_auth = ece::webpush_decrypt(*body, ua, std::string(16, 'b'));
    CHECK(wrong_auth.error().code == ExitCode::protocol_error);
    auto other_ua = ece::webpush_decrypt(*body, p256::generate(), auth);
    CHECK(other_ua.error().code == ExitCode::protocol_error);
    CHECK(ece::webpush_decrypt(*body + "x", ua, auth).error().code == ExitCode::too_large);
}

TEST_CASE("webpush: subscriptions as PushSubscription.toJSON() writes them") {
    std::string json = R"({"endpoint":"https://push.example.net/p/abc","expirationTime":null,)"
                       R"("keys":{"p256dh":")" +
                       std::string(k_ua_public) + R"(","auth":")" + std::string(k_auth) + R"("}})";
    auto parsed = ece::parse_subscription(json);
    REQUIRE(parsed.ok());
    CHECK(parsed->endpoint == "https://push.example.net/p/abc");
    CHECK(enc(parsed->p256dh) == k_ua_public);
    CHECK(enc(parsed->auth) == k_auth);
    CHECK(ece::subscription_json(*parsed) ==
          R"({"endpoint":"https://push.example.net/p/abc","keys":{"auth":")" + std::string(k_auth) +
              R"(","p256dh":")" + std::string(k_ua_public) + R"("}})");

    auto message = [](std::string_view text) {
        auto result = ece::parse_subscription(text);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ExitCode::usage);
        return result.error().message;
    };
    CHECK(message("not json").find("JSON object") != std::string::npos);
    CHECK(message("[]").find("JSON object") != std::string::npos);
    CHECK(message(R"({"keys":{}})").find("endpoint") != std::string::npos);
    CHECK(message(R"({"endpoint":"ftp://x/","keys":{}})").find("http") != std::string::npos);
    CHECK(message(R"({"endpoint":"https://x/"})").find("keys") != std::string::npos);
    CHECK(
        message(
            R"({"endpoint":"https://x/","keys":{"p256dh":"AAAA","auth":"BTBZMqHH6r4Tts7J_aSIgg"}})")
            .find("3 octets") != std::string::npos);
    CHECK(message(R"({"endpoint":"https://x/","keys":{"p256dh":"!!","auth":"x"}})")
              .find("base64url") != std::string::npos);
    CHECK(message(R"({"endpoint":"https://x/","keys":{"p256dh":")" + std::string(k_ua_public) +
                  R"(","auth":"AAAA"}})")
              .find("not 16") != std::string::npos);
}
