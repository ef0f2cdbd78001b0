#pragma once

#include "core/error.hpp"
#include "transport/connection.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace rtx::transport {

/// TLS over memory buffers (OpenSSL memory BIOs): the socket stays a plain
/// TcpStream on the loop, and this object only turns ciphertext into plaintext and back.
/// A client verifies the peer certificate and host name unless TlsOptions::insecure and
/// sends SNI; a server (create_server) only presents its certificate.
/// Loop thread only.
class TlsSession {
public:
    /// Fails with ExitCode::tls_failed when the CA file or client certificate cannot be
    /// loaded. `host` is used for SNI and verification unless options.server_name is set.
    static core::Result<std::unique_ptr<TlsSession>> create(const TlsOptions& options,
                                                            std::string_view host);
    /// The server side (`rtx tcp -l --tls-cert`): presents options.cert_file with
    /// options.key_file (or the key in the certificate file) and asks for no client
    /// certificate. Fails with ExitCode::tls_failed when they cannot be loaded or do not match.
    static core::Result<std::unique_ptr<TlsSession>> create_server(const TlsOptions& options);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    /// Starts (or continues) the handshake; ciphertext to send is appended to `to_network`.
    void start(std::string& to_network);
    /// Ciphertext from the socket. Appends decrypted bytes to `plaintext` and any ciphertext
    /// that must be sent (handshake, alerts) to `to_network`. An Error means the session is
    /// dead (handshake or verification failure, bad record).
    core::Result<bool> receive(std::string_view ciphertext, std::string& plaintext,
                               std::string& to_network);
    /// Encrypts application bytes; appends the records to `to_network`.
    void send(std::string_view plaintext, std::string& to_network);
    /// Sends close_notify.
    void shutdown(std::string& to_network);
    /// True once the handshake has completed.
    bool established() const { return m_established; }
    /// True once the peer sent close_notify.
    bool peer_closed() const { return m_peer_closed; }
    /// "TLSv1.3 TLS_AES_256_GCM_SHA384", for -v.
    std::string description() const;

private:
    struct Impl;
    explicit TlsSession(std::unique_ptr<Impl> impl);
    void drain_output(std::string& to_network);

    std::unique_ptr<Impl> m_impl;
    bool m_established = false;
    bool m_peer_closed = false;
};

} // namespace rtx::transport
