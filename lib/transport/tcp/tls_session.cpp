#include "transport/tcp/tls_session.hpp"

#include "transport/tcp/openssl_error.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>

namespace rtx::transport {

using core::Error;
using core::ExitCode;

struct TlsSession::Impl {
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    BIO* network_in = nullptr;  ///< We write socket bytes here; OpenSSL reads them.
    BIO* network_out = nullptr; ///< OpenSSL writes records here; we send them.
    std::string host;
    /// Makes the SSL object, reading from and writing to two memory BIOs; false when out of
    /// memory.
    bool attach_memory_bios() {
        ssl = SSL_new(ctx);
        network_in = BIO_new(BIO_s_mem());
        network_out = BIO_new(BIO_s_mem());
        if (ssl == nullptr || network_in == nullptr || network_out == nullptr) {
            BIO_free(network_in);
            BIO_free(network_out);
            network_in = nullptr;
            network_out = nullptr;
            return false;
        }
        // An empty read BIO means "no data yet", not EOF.
        BIO_set_mem_eof_return(network_in, -1);
        SSL_set_bio(ssl, network_in, network_out);
        return true;
    }
    ~Impl() {
        if (ssl != nullptr) {
            SSL_free(ssl); // frees both BIOs
        }
        if (ctx != nullptr) {
            SSL_CTX_free(ctx);
        }
    }
};

namespace {

Error tls_error(std::string_view what) {
    return Error{ExitCode::tls_failed, fmt::format("TLS: {}: {}", what, last_openssl_error())};
}

} // namespace

std::string last_openssl_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown TLS error";
    }
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    // "error:0A000086:SSL routines::certificate verify failed" -> keep the reason only.
    std::string_view message(text.data());
    if (auto pos = message.rfind(':'); pos != std::string_view::npos) {
        message.remove_prefix(pos + 1);
    }
    return std::string(message);
}

TlsSession::TlsSession(std::unique_ptr<Impl> impl)
    : m_impl(std::move(impl)) {}
TlsSession::~TlsSession() = default;

core::Result<std::unique_ptr<TlsSession>> TlsSession::create(const TlsOptions& options,
                                                             std::string_view host) {
    auto impl = std::make_unique<Impl>();
    impl->host = options.server_name.empty() ? std::string(host) : options.server_name;
    impl->ctx = SSL_CTX_new(TLS_client_method());
    if (impl->ctx == nullptr) {
        return tls_error("cannot create context");
    }
    SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
    if (options.insecure) {
        SSL_CTX_set_verify(impl->ctx, SSL_VERIFY_NONE, nullptr);
    } else {
        SSL_CTX_set_verify(impl->ctx, SSL_VERIFY_PEER, nullptr);
        if (!options.ca_file.empty()) {
            if (SSL_CTX_load_verify_locations(impl->ctx, options.ca_file.c_str(), nullptr) != 1) {
                return tls_error(fmt::format("cannot load CA file '{}'", options.ca_file));
            }
        } else if (SSL_CTX_set_default_verify_paths(impl->ctx) != 1) {
            return tls_error("cannot load the system CA store");
        }
    }
    if (!options.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(impl->ctx, options.cert_file.c_str()) != 1) {
            return tls_error(fmt::format("cannot load certificate '{}'", options.cert_file));
        }
        const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
        if (SSL_CTX_use_PrivateKey_file(impl->ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
            return tls_error(fmt::format("cannot load key '{}'", key));
        }
    }
    if (!impl->attach_memory_bios()) {
        return tls_error("out of memory");
    }
    SSL_set_connect_state(impl->ssl);

    // SNI is only for DNS names (RFC 6066 section 3: literal IP addresses are not allowed).
    bool is_ip_literal = impl->host.find(':') != std::string::npos ||
                         impl->host.find_first_not_of("0123456789.") == std::string::npos;
    if (!is_ip_literal) {
        SSL_set_tlsext_host_name(impl->ssl, impl->host.c_str());
    }
    if (!options.insecure) {
        X509_VERIFY_PARAM* param = SSL_get0_param(impl->ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = is_ip_literal ? X509_VERIFY_PARAM_set1_ip_asc(param, impl->host.c_str())
                               : X509_VERIFY_PARAM_set1_host(param, impl->host.c_str(), 0);
        if (ok != 1) {
            return tls_error(fmt::format("bad verification name '{}'", impl->host));
        }
    }
    return std::unique_ptr<TlsSession>(new TlsSession(std::move(impl)));
}

core::Result<std::unique_ptr<TlsSession>> TlsSession::create_server(const TlsOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->ctx = SSL_CTX_new(TLS_server_method());
    if (impl->ctx == nullptr) {
        return tls_error("cannot create context");
    }
    SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(impl->ctx, options.cert_file.c_str()) != 1) {
        return tls_error(fmt::format("cannot load certificate '{}'", options.cert_file));
    }
    const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
    if (SSL_CTX_use_PrivateKey_file(impl->ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        return tls_error(fmt::format("cannot load key '{}'", key));
    }
    if (SSL_CTX_check_private_key(impl->ctx) != 1) {
        return tls_error(
            fmt::format("key '{}' does not match certificate '{}'", key, options.cert_file));
    }
    if (!impl->attach_memory_bios()) {
        return tls_error("out of memory");
    }
    SSL_set_accept_state(impl->ssl);
    return std::unique_ptr<TlsSession>(new TlsSession(std::move(impl)));
}

void TlsSession::drain_output(std::string& to_network) {
    std::array<char, 16 * 1024> buffer{};
    for (;;) {
        int n = BIO_read(m_impl->network_out, buffer.data(), static_cast<int>(buffer.size()));
        if (n <= 0) {
            return;
        }
        to_network.append(buffer.data(), static_cast<std::size_t>(n));
    }
}

void TlsSession::start(std::string& to_network) {
    SSL_do_handshake(m_impl->ssl);
    drain_output(to_network);
}

core::Result<bool> TlsSession::receive(std::string_view ciphertext, std::string& plaintext,
                                       std::string& to_network) {
    if (!ciphertext.empty()) {
        BIO_write(m_impl->network_in, ciphertext.data(), static_cast<int>(ciphertext.size()));
    }
    if (!m_established) {
        int rc = SSL_do_handshake(m_impl->ssl);
        drain_output(to_network);
        if (rc != 1) {
            int err = SSL_get_error(m_impl->ssl, rc);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                return false;
            }
            long verify = SSL_get_verify_result(m_impl->ssl);
            if (verify != X509_V_OK) {
                ERR_clear_error();
                return Error{ExitCode::tls_failed,
                             fmt::format("TLS: certificate verification failed: {}",
                                         X509_verify_cert_error_string(verify))};
            }
            return tls_error("handshake failed");
        }
        m_established = true;
    }
    std::array<char, 16 * 1024> buffer{};
    for (;;) {
        int n = SSL_read(m_impl->ssl, buffer.data(), static_cast<int>(buffer.size()));
        if (n > 0) {
            plaintext.append(buffer.data(), static_cast<std::size_t>(n));
            continue;
        }
        int err = SSL_get_error(m_impl->ssl, n);
        drain_output(to_network); // key updates, session tickets acknowledgements
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            return true;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            m_peer_closed = true;
            return true;
        }
        return tls_error("receive failed");
    }
}

void TlsSession::send(std::string_view plaintext, std::string& to_network) {
    while (!plaintext.empty()) {
        int n = SSL_write(m_impl->ssl, plaintext.data(), static_cast<int>(plaintext.size()));
        if (n <= 0) {
            break; // with memory BIOs this only happens once the session is dead
        }
        plaintext.remove_prefix(static_cast<std::size_t>(n));
        drain_output(to_network);
    }
    drain_output(to_network);
}

void TlsSession::shutdown(std::string& to_network) {
    SSL_shutdown(m_impl->ssl);
    drain_output(to_network);
}

std::string TlsSession::description() const {
    return fmt::format("{} {}", SSL_get_version(m_impl->ssl),
                       SSL_CIPHER_get_name(SSL_get_current_cipher(m_impl->ssl)));
}

} // namespace rtx::transport
