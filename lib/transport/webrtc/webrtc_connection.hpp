#pragma once

#include "core/duration.hpp"
#include "core/loop.hpp"
#include "transport/connection.hpp"
#include "transport/webrtc/ice_servers.hpp"
#include "transport/webrtc/sctp_association.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::transport::webrtc {

/// Every data channel of a connection that takes all the channels the peer opens (rtx
/// serve's peers) instead of one; loop thread, never from inside a call of the caller's.
struct ChannelEvents {
    /// The peer opened a channel on `stream` (we acknowledged its DATA_CHANNEL_OPEN).
    std::function<void(std::uint16_t stream, const std::string& label, const std::string& protocol,
                       const ChannelParameters& parameters)>
        on_open;
    std::function<void(std::uint16_t stream, const Message& message)> on_message;
    /// Both directions of the channel were reset (by the peer or after close_channel).
    std::function<void(std::uint16_t stream)> on_closed;
};

/// A trickled candidate (RFC 8838) and the m= section it is for, as signalling carries it
/// (the W3C RTCIceCandidateInit: candidate, sdpMid, sdpMLineIndex). Ours always name the
/// data-channel section: mid "0" at index 0 in our offer, the offer's own mid and index
/// in an answer (a browser's offer may have audio and video before it).
struct TrickledCandidate {
    /// The attribute value, with or without "candidate:"; empty: the end of candidates.
    std::string candidate;
    std::optional<std::string> mid;         ///< sdpMid; absent (null) when not said.
    std::optional<std::size_t> mline_index; ///< sdpMLineIndex; absent (null) when not said.
};

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
    /// The offerer waits this long for the answer once its offer went out (a signalling
    /// server between the peers); zero: for ever (manual signalling, a human in between).
    core::Duration answer_timeout{0};
    /// Our a=max-message-size (RFC 8841 section 6): larger incoming messages end the
    /// connection with a protocol error.
    std::uint64_t max_message_size = 64ULL << 20;
    /// Receives the local description (SDP text) once candidates are gathered: for the
    /// offerer right after start(), for the answerer after the remote offer. Loop thread.
    std::function<void(const std::string& sdp)> on_local_description;
    /// Trickle ICE (RFC 8838, RFC 8840): the description goes out at once, without
    /// candidates and with a=ice-options:trickle, and each local candidate follows through
    /// on_local_candidate (an attribute value without "candidate:"; empty: end of
    /// candidates), tagged with the data section's mid and m-line index. The answerer
    /// trickles only when the offer says it can take trickled candidates; otherwise it
    /// waits for gathering and sends them all in the description.
    bool trickle = false;
    std::function<void(const TrickledCandidate& candidate)> on_local_candidate;
    /// Set (answerer only): every channel the peer opens is reported here, on_open of the
    /// Handler comes when the SCTP association is up, and send_on() / close_channel() address
    /// a channel; send() and finish_sending() are not used.
    std::optional<ChannelEvents> every_channel;
};

/// One WebRTC peer connection carrying one data channel, as a Connection:
/// on_open when the channel is open, messages both ways, finish_sending closes the channel
/// once what was sent is acknowledged (RFC 8831 section 6.7) and on_close follows when the
/// peer has closed its side too. Signalling is the caller's: it passes the local description
/// on and gives set_remote_description() the peer's. Loop thread only.
///
/// An interface: the implementation (libnice, OpenSSL DTLS, usrsctp) is in the WebRTC stack
/// module, rtx-webrtc.so, which make_webrtc_connection() loads on first use, so that the
/// commands that never open a peer connection do not load libnice, GLib and usrsctp (most of
/// a process start; see docs/ARCHITECTURE.md, "The WebRTC stack module").
///
/// Threads: libnice runs on a GLib thread of the ICE agent and posts into the loop; OpenSSL
/// DTLS and usrsctp (without its threads) run on the loop thread.
class WebrtcConnection : public Connection {
public:
    /// Makes the certificate and starts gathering; errors arrive as on_close.
    virtual void start() = 0;
    /// start() once the role is known (a signalling room decides it after connecting).
    virtual void start(bool offerer) = 0;
    /// The peer's description (an answer for the offerer, an offer for the answerer).
    virtual void set_remote_description(std::string_view sdp) = 0;
    /// One of the peer's trickled candidates; an empty one: the peer's end of candidates.
    /// Before the remote description they wait; those tagged for another m= section than
    /// the data channel's (proto::for_data_section) and those not allowed by
    /// ice_addresses are dropped (-v says so).
    virtual void add_remote_candidate(TrickledCandidate candidate) = 0;
    /// Ends the connection with `info` (signalling failed, no answer in time, ...).
    virtual void fail(core::ExitCode code, std::string reason) = 0;

    /// every_channel: one message on the channel of `stream`, with that channel's delivery.
    virtual bool send_on(std::uint16_t stream, const Message& message) = 0;
    /// every_channel: closes one channel (RFC 8831 section 6.7).
    virtual void close_channel(std::uint16_t stream) = 0;

    /// The module's state of one connection (webrtc_connection.cpp).
    struct Impl;
};

/// Loads the WebRTC stack module now (once per process): nullopt when it is loaded, else the
/// reason it cannot be ("WebRTC module rtx-webrtc.so not found (...)"). A command calls this
/// before its loop runs, so a broken install is one error line and exit 1 at the start.
std::optional<std::string> load_webrtc_stack();

/// A new WebrtcConnection from the WebRTC stack module. Throws std::runtime_error naming the
/// module's path and the loader's reason when rtx-webrtc.so cannot be loaded (it is looked
/// for beside the rtx executable, then in the install's library directory).
std::unique_ptr<WebrtcConnection> make_webrtc_connection(core::Loop& loop, WebrtcOptions options,
                                                         Handler& handler, std::uint64_t id);

} // namespace rtx::transport::webrtc
