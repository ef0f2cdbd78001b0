#include "proto/ece.hpp"

#include "core/encoding.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace rtx::proto::ece {

namespace {

using CipherCtxPtr =
    std::unique_ptr<EVP_CIPHER_CTX, decltype([](EVP_CIPHER_CTX* c) { EVP_CIPHER_CTX_free(c); })>;

constexpr std::size_t nonce_size = 12;
constexpr std::size_t key_size = 16;
constexpr char last_record_delimiter = '\x02';
constexpr char record_delimiter = '\x01';

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string& s) {
    return reinterpret_cast<unsigned char*>(s.data());
}

core::Error bad_input(std::string message) {
    return core::Error{core::ExitCode::usage, std::move(message)};
}
core::Error bad_body(std::string message) {
    return core::Error{core::ExitCode::protocol_error, std::move(message)};
}

/// The nonce of record `sequence`: the derived nonce XOR the 96-bit big-endian sequence
/// number (RFC 8188 section 2.3).
std::string record_nonce(std::string_view base, std::uint64_t sequence) {
    std::string nonce(base);
    for (std::size_t i = 0; i < 8; ++i) {
        nonce[nonce_size - 1 - i] =
            static_cast<char>(static_cast<unsigned char>(nonce[nonce_size - 1 - i]) ^
                              static_cast<unsigned char>(sequence >> (8 * i)));
    }
    return nonce;
}

void append_uint32(std::string& out, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((value >> shift) & 0xFF));
    }
}

/// AES-128-GCM seal: ciphertext || 16-octet tag, no additional data (RFC 8188 section 2).
void seal(EVP_CIPHER_CTX* ctx, const ContentKeys& keys, std::uint64_t sequence,
          std::string_view plain, std::string& out) {
    std::string nonce = record_nonce(keys.nonce, sequence);
    std::size_t start = out.size();
    out.resize(start + plain.size() + tag_size);
    int length = 0;
    int final_length = 0;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, bytes(keys.cek), bytes(nonce)) != 1 ||
        EVP_EncryptUpdate(ctx, bytes(out) + start, &length, bytes(plain),
                          static_cast<int>(plain.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx, bytes(out) + start + length, &final_length) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size),
                            bytes(out) + start + plain.size()) != 1) {
        throw std::runtime_error("aes128gcm: OpenSSL could not encrypt");
    }
}

/// AES-128-GCM open; false when the tag does not match.
bool open(EVP_CIPHER_CTX* ctx, const ContentKeys& keys, std::uint64_t sequence,
          std::string_view sealed, std::string& plain) {
    std::string nonce = record_nonce(keys.nonce, sequence);
    std::string_view ciphertext = sealed.substr(0, sealed.size() - tag_size);
    std::string tag(sealed.substr(ciphertext.size()));
    plain.resize(ciphertext.size());
    int length = 0;
    int final_length = 0;
    return EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, bytes(keys.cek), bytes(nonce)) ==
               1 &&
           EVP_DecryptUpdate(ctx, bytes(plain), &length, bytes(ciphertext),
                             static_cast<int>(ciphertext.size())) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size), bytes(tag)) ==
               1 &&
           EVP_DecryptFinal_ex(ctx, bytes(plain) + length, &final_length) == 1;
}

CipherCtxPtr new_cipher() {
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    if (!ctx) {
        throw std::runtime_error("aes128gcm: out of memory");
    }
    return ctx;
}

} // namespace

core::Result<Header> parse_header(std::string_view body) {
    if (body.size() < header_size_without_keyid) {
        return bad_body("aes128gcm body shorter than its 21-octet header");
    }
    Header header;
    header.salt = std::string(body.substr(0, salt_size));
    for (std::size_t i = 0; i < 4; ++i) {
        header.record_size = header.record_size << 8 | static_cast<unsigned char>(body[16 + i]);
    }
    std::size_t keyid_length = static_cast<unsigned char>(body[20]);
    if (body.size() < header_size_without_keyid + keyid_length) {
        return bad_body("aes128gcm body shorter than its header's keyid");
    }
    if (header.record_size < min_record_size) {
        return bad_body("aes128gcm record size " + std::to_string(header.record_size) +
                        " is under 18 (RFC 8188 section 2.1)");
    }
    header.keyid = std::string(body.substr(header_size_without_keyid, keyid_length));
    header.size = header_size_without_keyid + keyid_length;
    return header;
}

std::string hkdf_extract(std::string_view salt, std::string_view ikm) {
    std::string prk(EVP_MAX_MD_SIZE, '\0');
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()), bytes(ikm), ikm.size(),
             bytes(prk), &length) == nullptr) {
        throw std::runtime_error("HKDF: OpenSSL HMAC failed");
    }
    prk.resize(length);
    return prk;
}

std::string hkdf_expand(std::string_view prk, std::string_view info, std::size_t length) {
    // One block is enough for every length here (at most 32 = HashLen): T(1) =
    // HMAC(PRK, info || 0x01), RFC 5869 section 2.3.
    std::string input(info);
    input.push_back('\x01');
    std::string block = hkdf_extract(prk, input);
    block.resize(std::min(length, block.size()));
    return block;
}

ContentKeys derive_content_keys(std::string_view ikm, std::string_view salt) {
    using namespace std::string_view_literals;
    std::string prk = hkdf_extract(salt, ikm);
    return ContentKeys{hkdf_expand(prk, "Content-Encoding: aes128gcm\0"sv, key_size),
                       hkdf_expand(prk, "Content-Encoding: nonce\0"sv, nonce_size)};
}

core::Result<std::string> encrypt(std::string_view plaintext, const EncryptParams& params) {
    if (params.salt.size() != salt_size) {
        return bad_input("the aes128gcm salt must be 16 octets");
    }
    if (params.keyid.size() > 255) {
        return bad_input("the aes128gcm keyid is longer than 255 octets");
    }
    if (params.record_size < min_record_size) {
        return bad_input("the aes128gcm record size must be at least 18");
    }
    ContentKeys keys = derive_content_keys(params.ikm, params.salt);
    std::string out(params.salt);
    append_uint32(out, params.record_size);
    out.push_back(static_cast<char>(params.keyid.size()));
    out.append(params.keyid);

    // Each record carries up to rs - 17 octets of data and padding, then its delimiter.
    const std::size_t capacity = params.record_size - tag_size - 1;
    std::size_t padding_left = params.padding;
    std::string record;
    auto ctx = new_cipher();
    for (std::uint64_t sequence = 0;; ++sequence) {
        std::size_t padding = std::min(padding_left, capacity);
        std::size_t take = std::min(plaintext.size(), capacity - padding);
        padding_left -= padding;
        bool last = padding_left == 0 && take == plaintext.size();
        record.assign(plaintext.substr(0, take));
        record.push_back(last ? last_record_delimiter : record_delimiter);
        record.append(padding, '\0');
        plaintext.remove_prefix(take);
        seal(ctx.get(), keys, sequence, record, out);
        if (last) {
            return out;
        }
    }
}

core::Result<std::string> decrypt(std::string_view body, std::string_view ikm) {
    auto header = parse_header(body);
    if (!header) {
        return header.error();
    }
    ContentKeys keys = derive_content_keys(ikm, header->salt);
    std::string_view records = body.substr(header->size);
    if (records.empty()) {
        return bad_body("aes128gcm body has no records");
    }
    std::string out;
    std::string plain;
    auto ctx = new_cipher();
    for (std::uint64_t sequence = 0; !records.empty(); ++sequence) {
        std::string_view sealed = records.substr(0, header->record_size);
        records.remove_prefix(sealed.size());
        if (sealed.size() <= tag_size) {
            return bad_body("aes128gcm record " + std::to_string(sequence) +
                            " is too short for its tag and delimiter");
        }
        if (!open(ctx.get(), keys, sequence, sealed, plain)) {
            return bad_body("aes128gcm record " + std::to_string(sequence) +
                            " does not decrypt (wrong key or corrupted)");
        }
        // Padding is zero octets after the delimiter (RFC 8188 section 2).
        auto end = plain.find_last_not_of('\0');
        if (end == std::string::npos) {
            return bad_body("aes128gcm record " + std::to_string(sequence) + " has no delimiter");
        }
        bool final_record = records.empty();
        char expected = final_record ? last_record_delimiter : record_delimiter;
        if (plain[end] != expected) {
            return bad_body(final_record && plain[end] == record_delimiter
                                ? "aes128gcm body is truncated (its last record is not marked last)"
                                : "aes128gcm record " + std::to_string(sequence) +
                                      " has a bad delimiter");
        }
        out.append(plain, 0, end);
    }
    return out;
}

// --- Web Push --------------------------------------------------------------------------

std::string webpush_ikm(std::string_view ecdh_secret, std::string_view auth_secret,
                        std::string_view ua_public, std::string_view as_public) {
    using namespace std::string_view_literals;
    std::string prk = hkdf_extract(auth_secret, ecdh_secret);
    std::string info("WebPush: info\0"sv);
    info.append(ua_public);
    info.append(as_public);
    return hkdf_expand(prk, info, 32);
}

std::optional<core::Error> webpush_size_error(std::size_t plaintext_size, std::size_t padding) {
    if (plaintext_size + padding <= webpush_max_plaintext) {
        return std::nullopt;
    }
    return core::Error{core::ExitCode::too_large,
                       "the message is " + std::to_string(plaintext_size + padding) +
                           " octets, over the 3993 that fit a 4096-octet push message "
                           "(RFC 8291 section 4)"};
}

core::Result<std::string> webpush_encrypt(std::string_view plaintext, std::string_view ua_public,
                                          std::string_view auth_secret, const p256::KeyPair& sender,
                                          std::string_view salt, std::size_t padding) {
    if (auth_secret.size() != auth_secret_size) {
        return bad_input("the subscription's auth secret must be 16 octets, it is " +
                         std::to_string(auth_secret.size()));
    }
    if (auto error = webpush_size_error(plaintext.size(), padding)) {
        return *error;
    }
    auto secret = p256::ecdh(sender, ua_public);
    if (!secret) {
        return bad_input("the subscription's p256dh key: " + secret.error().message);
    }
    std::string ikm = webpush_ikm(*secret, auth_secret, ua_public, sender.public_key);
    EncryptParams params;
    params.ikm = ikm;
    params.salt = salt;
    params.keyid = sender.public_key;
    params.record_size = webpush_record_size;
    params.padding = padding;
    return encrypt(plaintext, params);
}

core::Result<std::string> webpush_decrypt(std::string_view body, const p256::KeyPair& receiver,
                                          std::string_view auth_secret) {
    if (body.size() > webpush_max_body) {
        return core::Error{core::ExitCode::too_large,
                           "the push message is " + std::to_string(body.size()) +
                               " octets, over 4096 (RFC 8291 section 4)"};
    }
    auto header = parse_header(body);
    if (!header) {
        return header.error();
    }
    // The keyid is the sender's ephemeral public key (RFC 8291 section 4).
    if (header->keyid.size() != p256::public_key_size) {
        return bad_body("the push message's keyid is not a 65-octet P-256 public key");
    }
    if (body.size() - header->size > header->record_size) {
        return bad_body("the push message has more than one record (RFC 8291 section 4)");
    }
    auto secret = p256::ecdh(receiver, header->keyid);
    if (!secret) {
        return bad_body("the push message's keyid: " + secret.error().message);
    }
    std::string ikm = webpush_ikm(*secret, auth_secret, receiver.public_key, header->keyid);
    return decrypt(body, ikm);
}

core::Result<Subscription> parse_subscription(std::string_view json) {
    auto document = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded() || !document.is_object()) {
        return bad_input("the subscription is not a JSON object");
    }
    auto string_at = [&](const nlohmann::json::json_pointer& pointer) -> const std::string* {
        if (!document.contains(pointer)) {
            return nullptr;
        }
        const auto& value = document.at(pointer);
        return value.is_string() ? value.get_ptr<const std::string*>() : nullptr;
    };
    const std::string* endpoint = string_at(nlohmann::json::json_pointer("/endpoint"));
    const std::string* p256dh = string_at(nlohmann::json::json_pointer("/keys/p256dh"));
    const std::string* auth = string_at(nlohmann::json::json_pointer("/keys/auth"));
    if (endpoint == nullptr || endpoint->empty()) {
        return bad_input("the subscription has no \"endpoint\" string");
    }
    if (endpoint->rfind("https://", 0) != 0 && endpoint->rfind("http://", 0) != 0) {
        return bad_input("the subscription's endpoint is not an http:// or https:// URL");
    }
    if (p256dh == nullptr || auth == nullptr) {
        return bad_input("the subscription has no \"keys\" with \"p256dh\" and \"auth\" strings");
    }
    Subscription subscription;
    subscription.endpoint = *endpoint;
    auto key = core::decode_base64url(*p256dh);
    if (!key) {
        return bad_input("the subscription's keys.p256dh is not base64url");
    }
    if (!p256::is_valid_public_key(*key)) {
        return bad_input("the subscription's keys.p256dh is " + std::to_string(key->size()) +
                         " octets, not a 65-octet uncompressed P-256 point");
    }
    auto secret = core::decode_base64url(*auth);
    if (!secret) {
        return bad_input("the subscription's keys.auth is not base64url");
    }
    if (secret->size() != auth_secret_size) {
        return bad_input("the subscription's keys.auth is " + std::to_string(secret->size()) +
                         " octets, not 16");
    }
    subscription.p256dh = std::move(*key);
    subscription.auth = std::move(*secret);
    return subscription;
}

std::string subscription_json(const Subscription& subscription) {
    std::string p256dh;
    core::append_base64url(p256dh, subscription.p256dh);
    std::string auth;
    core::append_base64url(auth, subscription.auth);
    nlohmann::json document = {{"endpoint", subscription.endpoint},
                               {"keys", {{"p256dh", p256dh}, {"auth", auth}}}};
    return document.dump();
}

} // namespace rtx::proto::ece
