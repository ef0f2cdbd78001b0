#include "transport/webrtc/dtls_session.hpp"

#include "core/timer.hpp"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>

namespace rtx::transport::webrtc {

namespace {

std::string openssl_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown OpenSSL error";
    }
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    return buffer;
}

std::string sha256_fingerprint(X509* certificate) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (X509_digest(certificate, EVP_sha256(), digest, &size) != 1) {
        return "";
    }
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out += fmt::format("{}{:02X}", i == 0 ? "" : ":", digest[i]);
    }
    return out;
}

} // namespace

struct DtlsCertificate::Impl {
    EVP_PKEY* key = nullptr;
    X509* certificate = nullptr;
    ~Impl() {
        X509_free(certificate);
        EVP_PKEY_free(key);
    }
};

DtlsCertificate::~DtlsCertificate() = default;

std::shared_ptr<DtlsCertificate> DtlsCertificate::generate(std::string& error) {
    std::shared_ptr<DtlsCertificate> out(new DtlsCertificate());
    out->m_impl = std::make_unique<Impl>();
    Impl& impl = *out->m_impl;
    impl.key = EVP_EC_gen("P-256");
    impl.certificate = X509_new();
    if (impl.key == nullptr || impl.certificate == nullptr) {
        error = "DTLS: could not create a P-256 key: " + openssl_error();
        return nullptr;
    }
    // A random serial and a short validity around now: the certificate is trusted through
    // its fingerprint only, so its names and dates only have to be well formed.
    std::uint64_t serial = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial);
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(impl.certificate), serial >> 1);
    X509_set_version(impl.certificate, 2);
    X509_gmtime_adj(X509_getm_notBefore(impl.certificate), -3600);
    X509_gmtime_adj(X509_getm_notAfter(impl.certificate), 30L * 24 * 3600);
    X509_NAME* name = X509_get_subject_name(impl.certificate);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("rtx"), -1, -1, 0);
    X509_set_issuer_name(impl.certificate, name);
    X509_set_pubkey(impl.certificate, impl.key);
    if (X509_sign(impl.certificate, impl.key, EVP_sha256()) == 0) {
        error = "DTLS: could not sign the certificate: " + openssl_error();
        return nullptr;
    }
    out->m_fingerprint = sha256_fingerprint(impl.certificate);
    return out;
}

struct DtlsSession::Impl {
    core::Loop& loop;
    std::shared_ptr<DtlsCertificate> certificate;
    bool client;
    std::string expected_fingerprint;
    DtlsCallbacks callbacks;
    SSL_CTX* ctx = nullptr;
    SSL* ssl = nullptr;
    BIO* network_in = nullptr; // memory BIO: the peer's datagrams, one at a time
    BIO_METHOD* out_method = nullptr;
    core::Timer retransmit;
    bool connected = false;
    bool failed = false;

    Impl(core::Loop& owner, std::shared_ptr<DtlsCertificate> cert, bool is_client,
         std::string fingerprint, DtlsCallbacks cbs)
        : loop(owner)
        , certificate(std::move(cert))
        , client(is_client)
        , expected_fingerprint(std::move(fingerprint))
        , callbacks(std::move(cbs))
        , retransmit(owner) {}

    ~Impl() {
        if (ssl != nullptr) {
            SSL_free(ssl); // frees both BIOs
        }
        SSL_CTX_free(ctx);
        BIO_meth_free(out_method);
    }

    // The outgoing BIO: OpenSSL writes one whole datagram per BIO_write (RFC 6347 section
    // 4.1.1: records never span datagrams), and each goes to the wire as it is.
    static int out_write(BIO* bio, const char* data, int size) {
        auto* self = static_cast<Impl*>(BIO_get_data(bio));
        self->callbacks.send_datagram(std::string_view(data, static_cast<std::size_t>(size)));
        return size;
    }

    static long out_ctrl(BIO*, int command, long, void*) {
        switch (command) {
        case BIO_CTRL_FLUSH:
            return 1;
        case BIO_CTRL_DGRAM_QUERY_MTU:
        case BIO_CTRL_WPENDING:
        case BIO_CTRL_PENDING:
        default:
            return 0;
        }
    }

    static int out_create(BIO* bio) {
        BIO_set_init(bio, 1);
        return 1;
    }

    void fail(std::string reason) {
        if (failed) {
            return;
        }
        failed = true;
        retransmit.stop();
        callbacks.on_failed(std::move(reason));
    }

    void schedule_retransmit() {
        timeval tv{};
        if (DTLSv1_get_timeout(ssl, &tv) != 1) {
            retransmit.stop();
            return;
        }
        auto delay = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
        retransmit.start(std::chrono::duration_cast<core::Duration>(delay), [this] {
            // RFC 6347 section 4.2.4: resend the last flight when its timer expires.
            if (DTLSv1_handle_timeout(ssl) < 0) {
                fail("DTLS handshake: the peer stopped answering");
                return;
            }
            schedule_retransmit();
        });
    }

    void handshake() {
        int rc = SSL_do_handshake(ssl);
        if (rc == 1) {
            retransmit.stop();
            X509* peer = SSL_get1_peer_certificate(ssl);
            std::string got = peer != nullptr ? sha256_fingerprint(peer) : "";
            X509_free(peer);
            // RFC 8842 section 5.3 / RFC 8122 section 5: the certificate must match the
            // fingerprint from the SDP, or this is not the peer we signalled with.
            if (got != expected_fingerprint) {
                fail(fmt::format("DTLS: the peer's certificate fingerprint {} does not match the "
                                 "SDP's {}",
                                 got.empty() ? "(none)" : got, expected_fingerprint));
                return;
            }
            connected = true;
            callbacks.on_connected();
            drain_reads();
            return;
        }
        int err = SSL_get_error(ssl, rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            schedule_retransmit();
            return;
        }
        fail("DTLS handshake failed: " + openssl_error());
    }

    void drain_reads() {
        char buffer[16384];
        while (!failed) {
            int n = SSL_read(ssl, buffer, sizeof buffer);
            if (n > 0) {
                callbacks.on_data(std::string_view(buffer, static_cast<std::size_t>(n)));
                continue;
            }
            int err = SSL_get_error(ssl, n);
            if (err == SSL_ERROR_ZERO_RETURN) {
                callbacks.on_closed();
            } else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                fail("DTLS: " + openssl_error());
            }
            return;
        }
    }
};

DtlsSession::DtlsSession(core::Loop& loop, std::shared_ptr<DtlsCertificate> certificate,
                         bool client, std::string expected_fingerprint, DtlsCallbacks callbacks)
    : m_impl(std::make_unique<Impl>(loop, std::move(certificate), client,
                                    std::move(expected_fingerprint), std::move(callbacks))) {}

DtlsSession::~DtlsSession() = default;

bool DtlsSession::start(std::string& error) {
    Impl& impl = *m_impl;
    impl.ctx = SSL_CTX_new(DTLS_method());
    if (impl.ctx == nullptr) {
        error = "DTLS: " + openssl_error();
        return false;
    }
    // RFC 8261 section 4 / RFC 8827: DTLS 1.2 or later; 1.0 is refused.
    SSL_CTX_set_min_proto_version(impl.ctx, DTLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(impl.ctx, DTLS1_2_VERSION);
    // Both ends present a certificate (RFC 8827 section 6.5); it is self-signed, so the
    // chain is not verified here: the fingerprint check after the handshake is the trust.
    SSL_CTX_set_verify(impl.ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       [](int, X509_STORE_CTX*) { return 1; });
    if (SSL_CTX_use_certificate(impl.ctx, impl.certificate->impl().certificate) != 1 ||
        SSL_CTX_use_PrivateKey(impl.ctx, impl.certificate->impl().key) != 1) {
        error = "DTLS: " + openssl_error();
        return false;
    }
    // The DTLS-SRTP extension (RFC 5764), as browsers send and accept it on every WebRTC
    // handshake, data-only ones included. A data channel never uses the keys; it is for
    // peers that will not connect without a negotiated profile (werift 0.19.9's transport
    // for data channels insists on one: tests/e2e/test_webrtc_serve.py, Whip).
    // OpenSSL's use_srtp setter returns 0 on success.
    if (SSL_CTX_set_tlsext_use_srtp(impl.ctx, "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80") !=
        0) {
        error = "DTLS: " + openssl_error();
        return false;
    }
    impl.ssl = SSL_new(impl.ctx);
    impl.network_in = BIO_new(BIO_s_mem());
    // An empty memory BIO means "no datagram yet", not end of stream.
    BIO_set_mem_eof_return(impl.network_in, -1);
    impl.out_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "rtx dtls datagrams");
    BIO_meth_set_write(impl.out_method, Impl::out_write);
    BIO_meth_set_ctrl(impl.out_method, Impl::out_ctrl);
    BIO_meth_set_create(impl.out_method, Impl::out_create);
    BIO* network_out = BIO_new(impl.out_method);
    BIO_set_data(network_out, &impl);
    SSL_set_bio(impl.ssl, impl.network_in, network_out);
    // The MTU is ours to choose (no socket to ask): 1200 bytes fits every path IPv6 allows
    // after UDP and TURN overheads, as browsers assume.
    SSL_set_options(impl.ssl, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(impl.ssl, 1200);
    if (impl.client) {
        SSL_set_connect_state(impl.ssl);
        impl.handshake();
    } else {
        SSL_set_accept_state(impl.ssl);
    }
    return true;
}

void DtlsSession::receive(std::string_view datagram) {
    Impl& impl = *m_impl;
    if (impl.ssl == nullptr || impl.failed || datagram.empty()) {
        return;
    }
    // RFC 7983 section 7: DTLS records start with a byte in 20..63; anything else (a stray
    // RTP packet from a browser) is not ours to read.
    auto first = static_cast<unsigned char>(datagram[0]);
    if (first < 20 || first > 63) {
        return;
    }
    BIO_write(impl.network_in, datagram.data(), static_cast<int>(datagram.size()));
    if (!impl.connected) {
        impl.handshake();
    } else {
        impl.drain_reads();
    }
}

bool DtlsSession::send(std::string_view data) {
    Impl& impl = *m_impl;
    if (!impl.connected || impl.failed) {
        return false;
    }
    int n = SSL_write(impl.ssl, data.data(), static_cast<int>(data.size()));
    return n == static_cast<int>(data.size());
}

void DtlsSession::close() {
    Impl& impl = *m_impl;
    if (impl.connected && !impl.failed) {
        SSL_shutdown(impl.ssl);
    }
    impl.retransmit.stop();
}

} // namespace rtx::transport::webrtc
