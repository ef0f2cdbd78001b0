#pragma once

#include "core/loop.hpp"
#include "proto/dcep.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rtx::transport::webrtc {

/// A data channel's delivery: ordered or not, reliable or partially (proto/dcep.hpp, where
/// DATA_CHANNEL_OPEN carries it).
using ChannelParameters = proto::DataChannelParameters;

/// "reliable ordered", "unordered, at most 3 retransmissions", ... (for -v).
std::string describe(const ChannelParameters& parameters);

/// What the association reports; all on the loop thread and, but for send_packet, never from
/// inside a usrsctp call (messages and notifications are read with usrsctp_recvv after each
/// call into usrsctp returns, so a callback may send).
struct SctpCallbacks {
    /// One SCTP packet to put in a DTLS record (RFC 8261 section 3).
    std::function<void(std::string_view packet)> send_packet;
    /// The association is up (SCTP_COMM_UP).
    std::function<void()> on_connected;
    /// A data channel opened: the peer acknowledged our DATA_CHANNEL_OPEN, or we acknowledged
    /// the peer's (RFC 8832 section 6).
    std::function<void(std::uint16_t stream, const std::string& label, const std::string& protocol,
                       const ChannelParameters& parameters)>
        on_channel_open;
    /// One whole message (fragments joined); binary false for the string PPIDs.
    std::function<void(std::uint16_t stream, std::string_view payload, bool binary)> on_message;
    /// Everything queued by send() went into usrsctp's send buffer.
    std::function<void()> on_drain;
    /// Both directions of the channel's stream pair were reset (RFC 8831 section 6.7).
    std::function<void(std::uint16_t stream, bool by_peer)> on_channel_closed;
    /// The association failed or was aborted; one line.
    std::function<void(std::string reason)> on_failed;
};

/// One SCTP association over DTLS (RFC 8261) through usrsctp in AF_CONN mode, with the Data
/// Channel Establishment Protocol (RFC 8832) and the data-channel message rules of RFC 8831.
/// usrsctp is started without its threads (usrsctp_init_nothreads) and its timers are driven
/// by a loop timer, so every usrsctp call happens on the loop thread. usrsctp's
/// state is process-wide: one loop per process may own associations.
class SctpAssociation {
public:
    SctpAssociation(core::Loop& loop, std::uint16_t local_port, std::uint16_t remote_port,
                    SctpCallbacks callbacks);
    ~SctpAssociation();
    SctpAssociation(const SctpAssociation&) = delete;
    SctpAssociation& operator=(const SctpAssociation&) = delete;

    /// Creates the socket and connects (both ends connect: RFC 8841 section 9.3).
    bool start(std::string& error);
    /// One SCTP packet out of a DTLS record.
    void receive_packet(std::string_view packet);
    /// Sends DATA_CHANNEL_OPEN for a channel on `stream` (RFC 8832 section 5.1).
    bool open_channel(std::uint16_t stream, const std::string& label, const std::string& protocol,
                      const ChannelParameters& parameters);
    /// Queues one message with the PPID of RFC 8831 section 8 (empty ones as one byte with the
    /// "empty" PPIDs 56/57), sent with the channel's parameters (the opener's, both ways).
    /// The queue goes to usrsctp before the loop next waits for I/O, all of it at once, so
    /// that small messages share packets.
    bool send(std::uint16_t stream, std::string_view payload, bool binary);
    /// Bytes queued by send() and not yet taken by usrsctp.
    std::size_t buffered_bytes() const;
    /// Closes the channel once everything queued is acknowledged: resets the outgoing stream
    /// (RFC 8831 section 6.7); on_channel_closed follows when the peer has reset its own.
    void close_channel(std::uint16_t stream);

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

} // namespace rtx::transport::webrtc
