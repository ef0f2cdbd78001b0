#pragma once

// The Data Channel Establishment Protocol's two messages (RFC 8832 section 5),
// DATA_CHANNEL_OPEN and DATA_CHANNEL_ACK, and the SCTP payload protocol identifiers of data
// channels (RFC 8831 section 8). A pure codec: transport/webrtc's SCTP association sends and
// receives these; what a peer sends is parsed here, so it has a fuzz target of its own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::proto {

/// RFC 8831 section 8 and RFC 8832 section 8.1: payload protocol identifiers.
inline constexpr std::uint32_t k_ppid_dcep = 50;
inline constexpr std::uint32_t k_ppid_string = 51;
inline constexpr std::uint32_t k_ppid_binary = 53;
inline constexpr std::uint32_t k_ppid_string_empty = 56;
inline constexpr std::uint32_t k_ppid_binary_empty = 57;

/// A data channel's delivery (RFC 8831 section 6.1, carried in DATA_CHANNEL_OPEN): ordered
/// or not, and fully reliable or partially (a message is abandoned after `value`
/// retransmissions, or `value` milliseconds after it was sent).
struct DataChannelParameters {
    enum class Reliability { reliable, max_retransmits, max_packet_life };
    bool ordered = true;
    Reliability reliability = Reliability::reliable;
    std::uint32_t value = 0;

    bool operator==(const DataChannelParameters&) const = default;
};

/// DATA_CHANNEL_OPEN (RFC 8832 section 5.1).
struct DataChannelOpen {
    DataChannelParameters parameters;
    std::uint16_t priority = 0;
    std::string label;
    std::string protocol;

    bool operator==(const DataChannelOpen&) const = default;
};

/// What a DCEP message is, from its first byte (RFC 8832 section 8.2.1).
enum class DcepType { open, ack, unknown };

/// parse_dcep's result: the type; for an open, the message or a one-line reason it is
/// malformed (the association then fails, RFC 8832 leaves no other answer to it).
struct DcepParseResult {
    DcepType type = DcepType::unknown;
    std::optional<DataChannelOpen> open;
    std::string error;
};

/// Parses one DCEP message (the payload of an SCTP message with PPID 50). An empty message
/// or an unknown type is `unknown` (ignored by the caller); an ACK may carry more bytes.
DcepParseResult parse_dcep(std::string_view message);

/// DATA_CHANNEL_OPEN for `open`; nullopt when its label or protocol is longer than the
/// 65,535 bytes the message's length fields can say.
std::optional<std::string> format_dcep_open(const DataChannelOpen& open);

/// DATA_CHANNEL_ACK: one byte.
std::string format_dcep_ack();

} // namespace rtx::proto
