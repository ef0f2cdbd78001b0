#include "proto/p256.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace rtx::proto::p256 {

namespace {

template <auto Free> struct Deleter {
    template <class T> void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX_free>>;
using GroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;

/// OPENSSL_free is a macro; Deleter needs a function.
void free_openssl(unsigned char* p) {
    OPENSSL_free(p);
}

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

core::Error key_error(std::string message) {
    return core::Error{core::ExitCode::usage, std::move(message)};
}

/// The fixed group, made once per thread: building it (and its Montgomery constants) cost
/// as much as a key generation. Used read-only; EC_GROUP is not shared across threads.
const EC_GROUP* group() {
    thread_local const GroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
    if (!group) {
        throw std::runtime_error("P-256: OpenSSL has no prime256v1 group");
    }
    return group.get();
}

/// The point of an uncompressed public key, checked to be on the curve; null if not.
PointPtr decode_point(std::string_view public_key) {
    if (public_key.size() != public_key_size || public_key.front() != '\x04') {
        return nullptr;
    }
    PointPtr point(EC_POINT_new(group()));
    // oct2point checks that the point is on the curve; P-256 has cofactor 1, so that is all
    // the validation ECDH needs (SEC 1 section 3.2.2.1).
    if (!point || EC_POINT_oct2point(group(), point.get(), bytes(public_key), public_key.size(),
                                     nullptr) != 1) {
        return nullptr;
    }
    return point;
}

/// An EVP_PKEY for OpenSSL's high-level operations: the public point, and the private scalar
/// when `private_key` is not empty.
PkeyPtr make_pkey(std::string_view private_key, std::string_view public_key) {
    ParamBldPtr builder(OSSL_PARAM_BLD_new());
    BnPtr scalar;
    if (!builder ||
        !OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1",
                                         0) ||
        !OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, public_key.data(),
                                          public_key.size())) {
        return nullptr;
    }
    if (!private_key.empty()) {
        scalar.reset(BN_bin2bn(bytes(private_key), static_cast<int>(private_key.size()), nullptr));
        if (!scalar ||
            !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar.get())) {
            return nullptr;
        }
    }
    ParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey,
                          private_key.empty() ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR,
                          params.get()) <= 0) {
        return nullptr;
    }
    return PkeyPtr(pkey);
}

std::string scalar_bytes(const BIGNUM* n) {
    std::string out(private_key_size, '\0');
    BN_bn2binpad(n, reinterpret_cast<unsigned char*>(out.data()), private_key_size);
    return out;
}

} // namespace

KeyPair generate() {
    // Rejection sampling over [1, n-1] through from_private_key: a random 32-octet string is
    // out of range with probability about 2^-32.
    for (;;) {
        std::string candidate(private_key_size, '\0');
        if (RAND_bytes(reinterpret_cast<unsigned char*>(candidate.data()),
                       static_cast<int>(candidate.size())) != 1) {
            throw std::runtime_error("P-256 key generation: no random numbers from OpenSSL");
        }
        auto pair = from_private_key(candidate);
        if (pair) {
            return std::move(pair.value());
        }
    }
}

core::Result<KeyPair> from_private_key(std::string_view private_key) {
    if (private_key.size() != private_key_size) {
        return key_error("a P-256 private key is 32 octets, this one is " +
                         std::to_string(private_key.size()));
    }
    const EC_GROUP* curve = group();
    BnCtxPtr ctx(BN_CTX_new());
    BnPtr scalar(BN_bin2bn(bytes(private_key), static_cast<int>(private_key.size()), nullptr));
    PointPtr point(EC_POINT_new(curve));
    if (!ctx || !scalar || !point) {
        throw std::runtime_error("P-256: out of memory");
    }
    const BIGNUM* order = EC_GROUP_get0_order(curve);
    if (BN_is_zero(scalar.get()) || BN_cmp(scalar.get(), order) >= 0) {
        return key_error("the P-256 private key is out of range");
    }
    if (EC_POINT_mul(curve, point.get(), scalar.get(), nullptr, nullptr, ctx.get()) != 1) {
        return key_error("the P-256 private key is unusable");
    }
    KeyPair pair;
    pair.private_key = std::string(private_key);
    pair.public_key.resize(public_key_size);
    std::size_t written = EC_POINT_point2oct(
        curve, point.get(), POINT_CONVERSION_UNCOMPRESSED,
        reinterpret_cast<unsigned char*>(pair.public_key.data()), public_key_size, ctx.get());
    if (written != public_key_size) {
        return key_error("the P-256 public key could not be encoded");
    }
    return pair;
}

bool is_valid_public_key(std::string_view public_key) {
    return decode_point(public_key) != nullptr;
}

core::Result<std::string> ecdh(const KeyPair& own, std::string_view peer_public_key) {
    // The x coordinate of own.private_key x peer (SEC 1 section 3.3.1), with EC_POINT_mul on
    // the shared group. EVP_PKEY_derive would also do this, after importing both keys through
    // the provider and an order check of the peer (one more scalar multiplication, needless
    // with cofactor 1): three times the cost, and one ECDH per push on each side.
    PointPtr peer = decode_point(peer_public_key);
    if (!peer) {
        return key_error("the P-256 public key is not a 65-octet uncompressed curve point");
    }
    const EC_GROUP* curve = group();
    BnCtxPtr ctx(BN_CTX_new());
    BnPtr scalar(
        BN_bin2bn(bytes(own.private_key), static_cast<int>(own.private_key.size()), nullptr));
    PointPtr product(EC_POINT_new(curve));
    BnPtr x(BN_new());
    if (!ctx || !scalar || !product || !x) {
        throw std::runtime_error("P-256: out of memory");
    }
    BN_set_flags(scalar.get(), BN_FLG_CONSTTIME);
    if (own.private_key.size() != private_key_size || BN_is_zero(scalar.get()) ||
        BN_cmp(scalar.get(), EC_GROUP_get0_order(curve)) >= 0 ||
        EC_POINT_mul(curve, product.get(), nullptr, peer.get(), scalar.get(), ctx.get()) != 1 ||
        EC_POINT_is_at_infinity(curve, product.get()) ||
        EC_POINT_get_affine_coordinates(curve, product.get(), x.get(), nullptr, ctx.get()) != 1) {
        return key_error("ECDH with the P-256 public key failed");
    }
    BN_clear(scalar.get());
    return scalar_bytes(x.get());
}

std::string sign(const KeyPair& key, std::string_view message) {
    PkeyPtr pkey = make_pkey(key.private_key, key.public_key);
    MdCtxPtr md(EVP_MD_CTX_new());
    std::size_t der_length = 0;
    if (!pkey || !md ||
        EVP_DigestSignInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, pkey.get(), nullptr) <=
            0 ||
        EVP_DigestSign(md.get(), nullptr, &der_length, bytes(message), message.size()) <= 0) {
        throw std::runtime_error("ES256: OpenSSL could not sign");
    }
    std::string der(der_length, '\0');
    if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &der_length,
                       bytes(message), message.size()) <= 0) {
        throw std::runtime_error("ES256: OpenSSL could not sign");
    }
    // OpenSSL writes the DER SEQUENCE of RFC 3279; JWS wants r and s as two fixed-width
    // big-endian integers (RFC 7518 section 3.4).
    const unsigned char* cursor = bytes(der);
    SigPtr parsed(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der_length)));
    if (!parsed) {
        throw std::runtime_error("ES256: OpenSSL wrote an unreadable signature");
    }
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(parsed.get(), &r, &s);
    return scalar_bytes(r) + scalar_bytes(s);
}

bool verify(std::string_view public_key, std::string_view message, std::string_view signature) {
    if (signature.size() != signature_size || !is_valid_public_key(public_key)) {
        return false;
    }
    PkeyPtr pkey = make_pkey({}, public_key);
    SigPtr parsed(ECDSA_SIG_new());
    BnPtr r(BN_bin2bn(bytes(signature), 32, nullptr));
    BnPtr s(BN_bin2bn(bytes(signature) + 32, 32, nullptr));
    if (!pkey || !parsed || !r || !s || ECDSA_SIG_set0(parsed.get(), r.get(), s.get()) != 1) {
        return false;
    }
    (void)r.release(); // owned by the signature now
    (void)s.release();
    unsigned char* der = nullptr;
    int der_length = i2d_ECDSA_SIG(parsed.get(), &der);
    if (der_length <= 0) {
        return false;
    }
    std::unique_ptr<unsigned char, Deleter<free_openssl>> owned(der);
    MdCtxPtr md(EVP_MD_CTX_new());
    return md &&
           EVP_DigestVerifyInit_ex(md.get(), nullptr, "SHA256", nullptr, nullptr, pkey.get(),
                                   nullptr) > 0 &&
           EVP_DigestVerify(md.get(), der, static_cast<std::size_t>(der_length), bytes(message),
                            message.size()) == 1;
}

std::string private_key_pem(const KeyPair& key) {
    PkeyPtr pkey = make_pkey(key.private_key, key.public_key);
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!pkey || !bio ||
        PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1) {
        throw std::runtime_error("PEM: OpenSSL could not write the private key");
    }
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

std::string public_key_pem(const KeyPair& key) {
    PkeyPtr pkey = make_pkey({}, key.public_key);
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!pkey || !bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) {
        throw std::runtime_error("PEM: OpenSSL could not write the public key");
    }
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

core::Result<KeyPair> from_pem(std::string_view pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    PkeyPtr pkey(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!pkey) {
        return key_error("not a PEM private key");
    }
    char group[64] = {};
    if (!EVP_PKEY_is_a(pkey.get(), "EC") ||
        EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       nullptr) != 1 ||
        std::string_view(group) != "prime256v1") {
        return key_error("the PEM key is not a P-256 (prime256v1) EC key");
    }
    BIGNUM* scalar = nullptr;
    if (EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &scalar) != 1) {
        return key_error("the PEM key has no private scalar");
    }
    BnPtr owned(scalar);
    return from_private_key(scalar_bytes(scalar));
}

} // namespace rtx::proto::p256
