#pragma once

#include "core/error.hpp"

#include <memory>
#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace rtx::serve {

/// What `rtx serve --tls...` asked for. Every listener speaks TLS on its own port (instead
/// of plain text) when cert_file is set.
struct TlsServeOptions {
    std::string cert_file;      ///< PEM certificate chain; empty: no TLS.
    std::string key_file;       ///< PEM private key.
    std::string client_ca_file; ///< When set, clients must present a certificate it signed.
    bool enabled() const { return !cert_file.empty(); }
};

/// A fresh self-signed certificate for the loopback names (`--tls` alone): an ECDSA P-256
/// key, SAN 127.0.0.1, ::1 and localhost, valid 30 days, written as cert.pem and key.pem
/// (mode 0600) to a new private directory under $TMPDIR (or /tmp). The directory and its
/// files are removed when this object is destroyed.
class SelfSignedCertificate {
public:
    /// ExitCode::failure when the key or the files cannot be made.
    static core::Result<std::unique_ptr<SelfSignedCertificate>> create();
    ~SelfSignedCertificate();
    SelfSignedCertificate(const SelfSignedCertificate&) = delete;
    SelfSignedCertificate& operator=(const SelfSignedCertificate&) = delete;

    const std::string& cert_file() const { return m_cert_file; }
    const std::string& key_file() const { return m_key_file; }

private:
    SelfSignedCertificate() = default;
    std::string m_dir;
    std::string m_cert_file;
    std::string m_key_file;
};

/// The SHA-256 fingerprint of the first certificate of a PEM file, as `openssl x509
/// -fingerprint -sha256` prints it ("AB:CD:..."). ExitCode::usage when it cannot be read.
core::Result<std::string> certificate_fingerprint(const std::string& cert_file);

/// The server side of TLS for the listeners that run their own sockets (MQTT, TCP echo):
/// one SSL_CTX with the certificate, key and optional client CA. The HTTP/WebSocket
/// listener hands the same files to libwebsockets instead. Loop thread only.
class TlsServerContext {
public:
    /// ExitCode::usage when a file cannot be loaded or the key does not match.
    static core::Result<std::unique_ptr<TlsServerContext>> create(const TlsServeOptions& options);
    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;
    SSL_CTX* native() const { return m_ctx; }

private:
    explicit TlsServerContext(SSL_CTX* ctx)
        : m_ctx(ctx) {}
    SSL_CTX* m_ctx;
};

/// Server-side TLS over memory BIOs for one connection: ciphertext in, plaintext out, and
/// back. Plaintext sent before the handshake is done waits for it. Loop thread only.
class TlsServerSession {
public:
    explicit TlsServerSession(const TlsServerContext& context);
    ~TlsServerSession();
    TlsServerSession(const TlsServerSession&) = delete;
    TlsServerSession& operator=(const TlsServerSession&) = delete;

    /// Ciphertext from the socket: decrypted bytes are appended to `plaintext`, records to
    /// send (handshake, alerts, what waited for the handshake) to `to_network`. An error
    /// (handshake failure, no or a bad client certificate, a bad record) ends the session.
    core::Result<bool> receive(std::string_view ciphertext, std::string& plaintext,
                               std::string& to_network);
    /// Encrypts application bytes (or keeps them until the handshake is done).
    void send(std::string_view plaintext, std::string& to_network);
    /// Sends close_notify.
    void shutdown(std::string& to_network);
    bool established() const { return m_established; }
    /// The peer sent close_notify.
    bool peer_closed() const { return m_peer_closed; }

private:
    void drain(std::string& to_network);
    SSL* m_ssl;
    std::string m_early; ///< Plaintext sent before the handshake completed.
    bool m_established = false;
    bool m_peer_closed = false;
};

} // namespace rtx::serve
