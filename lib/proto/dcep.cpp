#include "proto/dcep.hpp"

#include <fmt/format.h>

namespace rtx::proto {

namespace {

// RFC 8832 section 8.2.1: message types.
constexpr std::uint8_t k_type_ack = 0x02;
constexpr std::uint8_t k_type_open = 0x03;

// RFC 8832 section 5.1: channel types; the high bit is "unordered".
constexpr std::uint8_t k_channel_unordered = 0x80;
constexpr std::uint8_t k_channel_reliable = 0x00;
constexpr std::uint8_t k_channel_rexmit = 0x01;
constexpr std::uint8_t k_channel_timed = 0x02;

// Message type, channel type, priority (2), reliability parameter (4), label length (2),
// protocol length (2); then the label and the protocol.
constexpr std::size_t k_open_header = 12;

std::uint8_t byte_at(std::string_view data, std::size_t at) {
    return static_cast<std::uint8_t>(data[at]);
}

std::uint16_t u16_at(std::string_view data, std::size_t at) {
    return static_cast<std::uint16_t>((byte_at(data, at) << 8) | byte_at(data, at + 1));
}

std::uint32_t u32_at(std::string_view data, std::size_t at) {
    return (static_cast<std::uint32_t>(u16_at(data, at)) << 16) | u16_at(data, at + 2);
}

void put_u16(std::string& out, std::size_t at, std::uint32_t value) {
    out[at] = static_cast<char>((value >> 8) & 0xFF);
    out[at + 1] = static_cast<char>(value & 0xFF);
}

} // namespace

DcepParseResult parse_dcep(std::string_view message) {
    DcepParseResult result;
    if (message.empty()) {
        return result;
    }
    const std::uint8_t type = byte_at(message, 0);
    if (type == k_type_ack) {
        result.type = DcepType::ack;
        return result;
    }
    if (type != k_type_open) {
        return result;
    }
    result.type = DcepType::open;
    if (message.size() < k_open_header) {
        result.error = "DCEP: DATA_CHANNEL_OPEN shorter than its header";
        return result;
    }
    const std::size_t label_length = u16_at(message, 8);
    const std::size_t protocol_length = u16_at(message, 10);
    if (message.size() < k_open_header + label_length + protocol_length) {
        result.error = "DCEP: DATA_CHANNEL_OPEN label/protocol past its end";
        return result;
    }
    DataChannelOpen open;
    const std::uint8_t channel_type = byte_at(message, 1);
    open.parameters.ordered = (channel_type & k_channel_unordered) == 0;
    switch (channel_type & ~k_channel_unordered) {
    case k_channel_reliable:
        break;
    case k_channel_rexmit:
        open.parameters.reliability = DataChannelParameters::Reliability::max_retransmits;
        open.parameters.value = u32_at(message, 4);
        break;
    case k_channel_timed:
        open.parameters.reliability = DataChannelParameters::Reliability::max_packet_life;
        open.parameters.value = u32_at(message, 4);
        break;
    default:
        result.error = fmt::format("DCEP: unknown channel type 0x{:02x}", channel_type);
        return result;
    }
    open.priority = u16_at(message, 2);
    open.label = std::string(message.substr(k_open_header, label_length));
    open.protocol = std::string(message.substr(k_open_header + label_length, protocol_length));
    result.open = std::move(open);
    return result;
}

std::optional<std::string> format_dcep_open(const DataChannelOpen& open) {
    if (open.label.size() > 0xFFFF || open.protocol.size() > 0xFFFF) {
        return std::nullopt;
    }
    std::uint8_t channel_type = open.parameters.ordered ? 0 : k_channel_unordered;
    std::uint32_t reliability = 0; // "ignored" for a reliable channel: sent as zero
    switch (open.parameters.reliability) {
    case DataChannelParameters::Reliability::reliable:
        channel_type |= k_channel_reliable;
        break;
    case DataChannelParameters::Reliability::max_retransmits:
        channel_type |= k_channel_rexmit;
        reliability = open.parameters.value;
        break;
    case DataChannelParameters::Reliability::max_packet_life:
        channel_type |= k_channel_timed;
        reliability = open.parameters.value;
        break;
    }
    std::string out(k_open_header, '\0');
    out[0] = static_cast<char>(k_type_open);
    out[1] = static_cast<char>(channel_type);
    put_u16(out, 2, open.priority);
    put_u16(out, 4, reliability >> 16);
    put_u16(out, 6, reliability & 0xFFFF);
    put_u16(out, 8, static_cast<std::uint32_t>(open.label.size()));
    put_u16(out, 10, static_cast<std::uint32_t>(open.protocol.size()));
    out += open.label;
    out += open.protocol;
    return out;
}

std::string format_dcep_ack() {
    return std::string(1, static_cast<char>(k_type_ack));
}

} // namespace rtx::proto
