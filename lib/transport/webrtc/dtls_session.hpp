#pragma once

#include "core/loop.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rtx::transport::webrtc {

/// The run's DTLS identity (RFC 8827 section 6.5: a fresh self-signed certificate is fine;
/// the peer trusts it through the fingerprint in the signalled SDP, RFC 8122).
class DtlsCertificate {
public:
    /// An ECDSA P-256 key and a self-signed certificate for it; nullptr with `error` on failure.
    static std::shared_ptr<DtlsCertificate> generate(std::string& error);
    ~DtlsCertificate();
    /// SHA-256 of the DER certificate, upper-case hex pairs separated by ':'.
    const std::string& fingerprint() const { return m_fingerprint; }

    struct Impl;
    Impl& impl() const { return *m_impl; }

private:
    DtlsCertificate() = default;
    std::unique_ptr<Impl> m_impl;
    std::string m_fingerprint;
};

/// What a DTLS session reports; all on the loop thread, from inside its calls.
struct DtlsCallbacks {
    /// One datagram to put on the wire (handshake flight or record).
    std::function<void(std::string_view datagram)> send_datagram;
    /// The handshake finished and the peer's certificate matched the expected fingerprint.
    std::function<void()> on_connected;
    /// Application data (one SCTP packet per record).
    std::function<void(std::string_view data)> on_data;
    /// The handshake failed or the peer's certificate did not match; one line.
    std::function<void(std::string reason)> on_failed;
    /// The peer sent close_notify.
    std::function<void()> on_closed;
};

/// DTLS 1.2 (RFC 6347) over OpenSSL on the loop thread: datagrams in through a memory BIO
/// (one datagram at a time), out through a BIO that hands each datagram OpenSSL writes to
/// send_datagram, with the handshake retransmission timer on the loop.
class DtlsSession {
public:
    /// `client`: a=setup:active side (RFC 8842 section 5). `expected_fingerprint`: the peer's
    /// a=fingerprint sha-256 value.
    DtlsSession(core::Loop& loop, std::shared_ptr<DtlsCertificate> certificate, bool client,
                std::string expected_fingerprint, DtlsCallbacks callbacks);
    ~DtlsSession();
    DtlsSession(const DtlsSession&) = delete;
    DtlsSession& operator=(const DtlsSession&) = delete;

    /// Creates the OpenSSL objects; the client sends its ClientHello.
    bool start(std::string& error);
    /// One datagram from the peer.
    void receive(std::string_view datagram);
    /// Sends one record of application data; false before on_connected or after a failure.
    bool send(std::string_view data);
    /// Sends close_notify (RFC 5246 section 7.2.1).
    void close();

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace rtx::transport::webrtc
