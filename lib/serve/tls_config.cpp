#include "serve/tls_config.hpp"

#include "transport/tcp/openssl_error.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace rtx::serve {

using core::Error;
using core::ExitCode;

namespace {

bool add_extension(X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (extension == nullptr) {
        return false;
    }
    const bool ok = X509_add_ext(cert, extension, -1) == 1;
    X509_EXTENSION_free(extension);
    return ok;
}

bool write_pem(const std::string& path, const auto& write) {
    // 0600: the key is a secret, and the certificate costs nothing to protect alike.
    FILE* file = std::fopen(path.c_str(), "wx");
    if (file == nullptr) {
        return false;
    }
    ::fchmod(::fileno(file), 0600);
    const bool ok = write(file) == 1;
    return std::fclose(file) == 0 && ok;
}

} // namespace

core::Result<std::unique_ptr<SelfSignedCertificate>> SelfSignedCertificate::create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        fmt::format("{}/rtx-serve-tls-XXXXXX", tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
    if (::mkdtemp(pattern.data()) == nullptr) {
        return Error{
            ExitCode::failure,
            fmt::format("--tls: cannot create a directory for the certificate ({})", pattern)};
    }
    std::unique_ptr<SelfSignedCertificate> out(new SelfSignedCertificate());
    out->m_dir = pattern;
    out->m_cert_file = pattern + "/cert.pem";
    out->m_key_file = pattern + "/key.pem";

    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    bool ok = key != nullptr && cert != nullptr;
    if (ok) {
        std::array<unsigned char, 16> serial{};
        RAND_bytes(serial.data(), static_cast<int>(serial.size()));
        serial[0] &= 0x7f; // a positive INTEGER (RFC 5280 section 4.1.2.2)
        BIGNUM* number = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
        ok = number != nullptr && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert));
        BN_free(number);
    }
    if (ok) {
        X509_NAME* name = X509_get_subject_name(cert);
        ok = X509_set_version(cert, 2) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>("rtx serve"), -1, -1,
                                        0) == 1 &&
             X509_set_issuer_name(cert, name) == 1 &&
             // An hour back: a client whose clock is a little behind still accepts it.
             X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nullptr &&
             X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600) != nullptr &&
             X509_set_pubkey(cert, key) == 1 &&
             add_extension(cert, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost") &&
             add_extension(cert, NID_basic_constraints, "critical,CA:FALSE") &&
             add_extension(cert, NID_key_usage, "critical,digitalSignature") &&
             add_extension(cert, NID_ext_key_usage, "serverAuth") &&
             add_extension(cert, NID_subject_key_identifier, "hash") &&
             X509_sign(cert, key, EVP_sha256()) > 0;
    }
    if (ok) {
        ok = write_pem(out->m_cert_file, [&](FILE* file) { return PEM_write_X509(file, cert); }) &&
             write_pem(out->m_key_file, [&](FILE* file) {
                 return PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
             });
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) {
        return Error{ExitCode::failure, fmt::format("--tls: cannot make a certificate: {}",
                                                    transport::last_openssl_error())};
    }
    return out;
}

SelfSignedCertificate::~SelfSignedCertificate() {
    std::error_code ignored;
    std::filesystem::remove_all(m_dir, ignored);
}

core::Result<std::string> certificate_fingerprint(const std::string& cert_file) {
    FILE* file = std::fopen(cert_file.c_str(), "r");
    X509* cert = file != nullptr ? PEM_read_X509(file, nullptr, nullptr, nullptr) : nullptr;
    if (file != nullptr) {
        std::fclose(file);
    }
    if (cert == nullptr) {
        ERR_clear_error();
        return Error{ExitCode::usage,
                     fmt::format("--tls-cert {}: not a readable PEM certificate", cert_file)};
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    X509_digest(cert, EVP_sha256(), digest.data(), &length);
    X509_free(cert);
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out += fmt::format("{}{:02X}", i == 0 ? "" : ":", digest[i]);
    }
    return out;
}

core::Result<std::unique_ptr<TlsServerContext>>
TlsServerContext::create(const TlsServeOptions& options) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) {
        return Error{ExitCode::failure, fmt::format("TLS: {}", transport::last_openssl_error())};
    }
    std::unique_ptr<TlsServerContext> out(new TlsServerContext(ctx));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
        return Error{ExitCode::usage, fmt::format("--tls-cert {}: {}", options.cert_file,
                                                  transport::last_openssl_error())};
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        return Error{ExitCode::usage, fmt::format("--tls-key {}: {}", options.key_file,
                                                  transport::last_openssl_error())};
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return Error{ExitCode::usage, fmt::format("--tls-key {}: does not match --tls-cert {}",
                                                  options.key_file, options.cert_file)};
    }
    if (!options.client_ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(), nullptr) != 1) {
            return Error{ExitCode::usage,
                         fmt::format("--tls-client-ca {}: {}", options.client_ca_file,
                                     transport::last_openssl_error())};
        }
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(options.client_ca_file.c_str()));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return out;
}

TlsServerContext::~TlsServerContext() {
    SSL_CTX_free(m_ctx);
}

TlsServerSession::TlsServerSession(const TlsServerContext& context)
    : m_ssl(SSL_new(context.native())) {
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1); // empty means "no data yet", not EOF
    SSL_set_bio(m_ssl, in, out);
    SSL_set_accept_state(m_ssl);
}

TlsServerSession::~TlsServerSession() {
    SSL_free(m_ssl);
}

void TlsServerSession::drain(std::string& to_network) {
    BIO* out = SSL_get_wbio(m_ssl);
    std::array<char, 16 * 1024> buffer{};
    for (;;) {
        const int n = BIO_read(out, buffer.data(), static_cast<int>(buffer.size()));
        if (n <= 0) {
            return;
        }
        to_network.append(buffer.data(), static_cast<std::size_t>(n));
    }
}

core::Result<bool> TlsServerSession::receive(std::string_view ciphertext, std::string& plaintext,
                                             std::string& to_network) {
    if (!ciphertext.empty()) {
        BIO_write(SSL_get_rbio(m_ssl), ciphertext.data(), static_cast<int>(ciphertext.size()));
    }
    if (!m_established) {
        const int rc = SSL_do_handshake(m_ssl);
        drain(to_network);
        if (rc != 1) {
            const int err = SSL_get_error(m_ssl, rc);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                return false;
            }
            return Error{ExitCode::tls_failed,
                         fmt::format("TLS handshake failed: {}", transport::last_openssl_error())};
        }
        m_established = true;
        if (!m_early.empty()) {
            send(std::exchange(m_early, {}), to_network);
        }
    }
    std::array<char, 16 * 1024> buffer{};
    for (;;) {
        const int n = SSL_read(m_ssl, buffer.data(), static_cast<int>(buffer.size()));
        if (n > 0) {
            plaintext.append(buffer.data(), static_cast<std::size_t>(n));
            continue;
        }
        const int err = SSL_get_error(m_ssl, n);
        drain(to_network);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            return true;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            m_peer_closed = true;
            return true;
        }
        return Error{ExitCode::tls_failed, fmt::format("TLS: {}", transport::last_openssl_error())};
    }
}

void TlsServerSession::send(std::string_view plaintext, std::string& to_network) {
    if (!m_established) {
        m_early.append(plaintext);
        return;
    }
    while (!plaintext.empty()) {
        const int n = SSL_write(m_ssl, plaintext.data(), static_cast<int>(plaintext.size()));
        if (n <= 0) {
            ERR_clear_error();
            break; // with memory BIOs only a dead session refuses
        }
        plaintext.remove_prefix(static_cast<std::size_t>(n));
    }
    drain(to_network);
}

void TlsServerSession::shutdown(std::string& to_network) {
    if (m_established) {
        SSL_shutdown(m_ssl);
        ERR_clear_error();
        drain(to_network);
    }
}

} // namespace rtx::serve
