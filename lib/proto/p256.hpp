#pragma once
// P-256 (secp256r1) keys in the raw forms Web Push uses, over OpenSSL 3: the 32-octet private
// scalar and the 65-octet uncompressed public point (SEC 1 section 2.3.3), ECDH for RFC 8291
// and ES256 signatures for RFC 8292. Pure apart from the random numbers of key generation
// and signing: no I/O, no clock.
#include "core/error.hpp"

#include <string>
#include <string_view>

namespace rtx::proto::p256 {

inline constexpr std::size_t private_key_size = 32;
inline constexpr std::size_t public_key_size = 65;    ///< 0x04 || X || Y
inline constexpr std::size_t signature_size = 64;     ///< r || s (RFC 7518 section 3.4)
inline constexpr std::size_t shared_secret_size = 32; ///< the X coordinate (SEC 1 3.3.1)

struct KeyPair {
    std::string private_key; ///< 32 octets, big-endian
    std::string public_key;  ///< 65 octets, uncompressed
};

/// A fresh random key pair.
KeyPair generate();

/// The key pair of a raw private scalar; fails unless it is 32 octets in [1, n-1].
core::Result<KeyPair> from_private_key(std::string_view private_key);

/// True when `public_key` is 65 octets, starts with 0x04 and is a point on the curve.
bool is_valid_public_key(std::string_view public_key);

/// ECDH (SEC 1 section 3.3.1): the shared X coordinate. Fails for an invalid public key.
core::Result<std::string> ecdh(const KeyPair& own, std::string_view peer_public_key);

/// ES256: ECDSA over SHA-256 of `message`, as the 64-octet r || s of JWS.
std::string sign(const KeyPair& key, std::string_view message);
/// Checks an r || s signature; false for a malformed key or signature too.
bool verify(std::string_view public_key, std::string_view message, std::string_view signature);

/// The private key as PEM: PKCS#8 "PRIVATE KEY", as `openssl genpkey` writes it.
std::string private_key_pem(const KeyPair& key);
/// The public key as PEM: SubjectPublicKeyInfo "PUBLIC KEY".
std::string public_key_pem(const KeyPair& key);
/// Reads a PEM private key (PKCS#8 or SEC 1 "EC PRIVATE KEY"); fails unless it is P-256.
core::Result<KeyPair> from_pem(std::string_view pem);

} // namespace rtx::proto::p256
