#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "transport/connection.hpp"
#include "transport/webrtc/ice_servers.hpp"
#include "transport/webrtc/sctp_association.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::transport::webrtc {

/// How one peer connection with one data channel is set up.
struct WebrtcOptions {
    bool offerer = true; ///< Writes the offer and opens the channel (JSEP: the ICE controller).
    /// Local ICE addresses (IP literals); remote candidates on other addresses are dropped.
    /// Empty: every interface, every remote candidate.
    std::vector<std::string> ice_addresses;
    /// STUN/TURN servers and relay-only (--stun, --turn, --relay-only).
    IceServers ice_servers;
    std::string label = "rtx"; ///< DATA_CHANNEL_OPEN label (RFC 8832 section 5.1).
    std::string protocol;      ///< DATA_CHANNEL_OPEN protocol.
    /// The channel the offerer opens: ordered or not, reliable or partially (RFC 8831 6.1).
    ChannelParameters channel;
    /// From the remote description to an open channel (ICE, DTLS, SCTP, DCEP); then the
    /// stage that was not done is named in the error.
    core::Duration connect_timeout{std::chrono::seconds(30)};
    /// Our a=max-message-size (RFC 8841 section 6): larger incoming messages end the
    /// connection with a protocol error.
    std::uint64_t max_message_size = 64ULL << 20;
    /// Receives the local description (SDP text) once candidates are gathered: for the
    /// offerer right after start(), for the answerer after the remote offer. Loop thread.
    std::function<void(const std::string& sdp)> on_local_description;
};

/// One WebRTC peer connection carrying one data channel, as a Connection:
/// on_open when the channel is open, messages both ways, finish_sending closes the channel
/// once what was sent is acknowledged (RFC 8831 section 6.7) and on_close follows when the
/// peer has closed its side too. Signalling is the caller's: it passes the local description
/// on and gives set_remote_description() the peer's. Loop thread only.
///
/// Threads: libnice runs on a GLib thread of the ICE agent and posts into the loop; OpenSSL
/// DTLS and usrsctp (without its threads) run on the loop thread.
class WebrtcConnection final : public Connection {
public:
    WebrtcConnection(core::Loop& loop, WebrtcOptions options, Handler& handler, std::uint64_t id);
    ~WebrtcConnection() override;

    /// Makes the certificate and starts gathering; errors arrive as on_close.
    void start();
    /// start() once the role is known (a signalling room decides it after connecting).
    void start(bool offerer);
    /// The peer's description (an answer for the offerer, an offer for the answerer).
    void set_remote_description(std::string_view sdp);
    /// Ends the connection with `info` (signalling failed, no answer in time, ...).
    void fail(core::ExitCode code, std::string reason);

    bool send(const Message& message) override;
    void finish_sending() override;
    void close() override;
    bool is_open() const override;
    std::size_t buffered_bytes() const override;
    const ConnectionStats& stats() const override;
    std::uint64_t id() const override;

    struct Impl;

private:
    std::shared_ptr<Impl> m_impl;
};

} // namespace rtx::transport::webrtc
