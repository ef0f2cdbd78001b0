#pragma once
// Encrypted content encoding: "aes128gcm" (RFC 8188) and the Web Push key derivation on top
// of it (RFC 8291), plus the subscription a browser hands to an application server. Pure:
// no I/O, no clock; the callers choose salts and ephemeral keys, so the RFC examples are
// reproduced byte for byte.
#include "core/error.hpp"
#include "proto/p256.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::proto::ece {

inline constexpr std::size_t salt_size = 16;
inline constexpr std::size_t tag_size = 16;
/// salt (16) || rs (4) || idlen (1) || keyid: RFC 8188 section 2.1.
inline constexpr std::size_t header_size_without_keyid = 21;
/// The smallest record: one delimiter octet and the tag (RFC 8188 section 2).
inline constexpr std::uint32_t min_record_size = 18;

/// The content-coding header (RFC 8188 section 2.1).
struct Header {
    std::string salt;              ///< 16 octets
    std::uint32_t record_size = 0; ///< rs: the size of every record but the last
    std::string keyid;             ///< 0 to 255 octets
    std::size_t size = 0;          ///< octets the header takes in the body
};

/// Reads the header at the start of `body`; fails when it is short or rs < 18.
core::Result<Header> parse_header(std::string_view body);

/// HKDF-Extract and HKDF-Expand with SHA-256 (RFC 5869 section 2); `length` at most 32.
std::string hkdf_extract(std::string_view salt, std::string_view ikm);
std::string hkdf_expand(std::string_view prk, std::string_view info, std::size_t length);

/// The content-encryption key and nonce base of one message (RFC 8188 sections 2.2, 2.3).
struct ContentKeys {
    std::string cek;   ///< 16 octets
    std::string nonce; ///< 12 octets, XORed with the record sequence number
};
ContentKeys derive_content_keys(std::string_view ikm, std::string_view salt);

struct EncryptParams {
    std::string_view ikm;
    std::string_view salt;  ///< 16 octets, fresh for every message (RFC 8188 section 4.4)
    std::string_view keyid; ///< at most 255 octets
    std::uint32_t record_size = 4096;
    /// Zero octets added after the data. They fill the first records before any data does,
    /// as the RFC 8188 section 3.2 example lays them out.
    std::size_t padding = 0;
};

/// The whole content-coded body: header, then the records.
core::Result<std::string> encrypt(std::string_view plaintext, const EncryptParams& params);

/// Decrypts a whole body with `ikm`: checks every tag, the delimiters (0x01 on every record
/// but the last, 0x02 on the last) and that nothing is truncated or appended. Fails with
/// protocol_error and a one-line reason.
core::Result<std::string> decrypt(std::string_view body, std::string_view ikm);

// --- Web Push (RFC 8291) ---------------------------------------------------------------

inline constexpr std::size_t auth_secret_size = 16;
/// A push message is one record of at most 4096 octets (RFC 8291 section 4), rs 4096.
inline constexpr std::uint32_t webpush_record_size = 4096;
inline constexpr std::size_t webpush_max_body = 4096;
/// The header with a 65-octet keyid.
inline constexpr std::size_t webpush_header_size =
    header_size_without_keyid + p256::public_key_size;
/// 4096 - 86 (header) - 16 (tag) - 1 (delimiter) = 3993 octets of text and padding.
inline constexpr std::size_t webpush_max_plaintext =
    webpush_max_body - webpush_header_size - tag_size - 1;

/// The input keying material of RFC 8291 section 3.4: HKDF(auth_secret, ecdh_secret,
/// "WebPush: info" 0x00 || ua_public || as_public, 32).
std::string webpush_ikm(std::string_view ecdh_secret, std::string_view auth_secret,
                        std::string_view ua_public, std::string_view as_public);

/// too_large when `plaintext_size` octets with `padding` do not fit one push message
/// (webpush_max_plaintext); nullopt when they do.
std::optional<core::Error> webpush_size_error(std::size_t plaintext_size, std::size_t padding);

/// Encrypts one push message to a user agent (RFC 8291 section 3): `sender` is the
/// application server's ephemeral key pair (fresh per message), `salt` 16 random octets.
/// Fails with usage for bad key sizes and too_large past webpush_max_plaintext.
core::Result<std::string> webpush_encrypt(std::string_view plaintext, std::string_view ua_public,
                                          std::string_view auth_secret, const p256::KeyPair& sender,
                                          std::string_view salt, std::size_t padding = 0);

/// Decrypts a push message as the user agent holding `receiver` and `auth_secret` does: the
/// keyid is the sender's public key, and the body is one record (RFC 8291 section 4).
core::Result<std::string> webpush_decrypt(std::string_view body, const p256::KeyPair& receiver,
                                          std::string_view auth_secret);

/// A push subscription as PushSubscription.toJSON() writes it (W3C Push API 4.1):
/// {"endpoint": URL, "keys": {"p256dh": base64url, "auth": base64url}}.
struct Subscription {
    std::string endpoint;
    std::string p256dh; ///< 65 octets, decoded and checked to be a curve point
    std::string auth;   ///< 16 octets, decoded
};

/// Parses and checks a subscription; fails with usage and a one-line reason.
core::Result<Subscription> parse_subscription(std::string_view json);
/// The JSON of a subscription, keys in base64url (the form parse_subscription reads).
std::string subscription_json(const Subscription& subscription);

} // namespace rtx::proto::ece
