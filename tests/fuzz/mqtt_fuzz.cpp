// libFuzzer target for proto/mqtt_codec.hpp. The first byte picks the version, a small max
// packet size or none, and a split position; the rest is a byte stream from a peer. Decoding
// it whole, in two pieces and byte by byte must give the same packets and the same error;
// every decoded packet must re-encode to bytes that decode to the same fields.
#include "fuzz_check.hpp"
#include "proto/mqtt_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace rtx::proto::mqtt;

using rtx::fuzz::check;

/// A packet's fields as text, to compare decodes.
std::string describe(const Packet& p) {
    std::string out(packet_type_name(p.type));
    out += ' ' + std::to_string(p.flags) + ' ' + std::string(p.properties.raw) + '|';
    // Only the fields of the packet's type: the others keep an earlier packet's values.
    switch (p.type) {
    case PacketType::connack:
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
    case PacketType::disconnect:
    case PacketType::auth:
        out += std::to_string(p.reason_code) + ' ';
        break;
    default:
        break;
    }
    switch (p.type) {
    case PacketType::publish:
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
    case PacketType::subscribe:
    case PacketType::suback:
    case PacketType::unsubscribe:
    case PacketType::unsuback:
        out += std::to_string(p.packet_id) + ' ';
        break;
    default:
        break;
    }
    switch (p.type) {
    case PacketType::publish:
        out += std::string(p.topic) + '|' + std::string(p.payload);
        break;
    case PacketType::connect:
        out += std::string(p.connect.client_id) + '|' + std::string(p.connect.will_topic) + '|' +
               std::string(p.connect.will_payload) + '|' + std::string(p.connect.username) + '|' +
               std::string(p.connect.password) + '|' + std::string(p.connect.will_properties.raw) +
               '|' + std::to_string(p.connect.keep_alive);
        break;
    case PacketType::subscribe:
    case PacketType::unsubscribe:
        for (const auto& t : p.topics) {
            out += std::string(t.filter) + '/' + std::to_string(t.options_byte()) + ',';
        }
        break;
    case PacketType::suback:
    case PacketType::unsuback:
        out += std::string(p.reason_codes.begin(), p.reason_codes.end());
        break;
    case PacketType::connack:
        out += p.session_present ? "1" : "0";
        break;
    default:
        break;
    }
    return out;
}

struct Outcome {
    std::vector<std::string> packets;
    bool failed = false;
    std::uint8_t reason = 0;
    bool operator==(const Outcome&) const = default;
};

/// Re-encodes `p` and checks the bytes decode to the same description.
void check_round_trip(const Packet& p, Version version) {
    std::string out;
    bool encoded = false;
    switch (p.type) {
    case PacketType::connect:
        encoded = encode_connect(out, p.connect, p.properties.raw, p.connect.will_properties.raw);
        version = static_cast<Version>(p.connect.protocol_level);
        break;
    case PacketType::publish:
        encoded = encode_publish(out, version, p.topic, p.payload, p.qos, p.retain, p.dup,
                                 p.packet_id, p.properties.raw);
        break;
    case PacketType::subscribe:
        encoded = encode_subscribe(out, version, p.packet_id, p.topics, p.properties.raw);
        break;
    case PacketType::suback:
        encoded = encode_suback(out, version, p.packet_id, p.reason_codes, p.properties.raw);
        break;
    default:
        return; // the short and long forms of acks legitimately differ in bytes
    }
    check(encoded);
    Decoder decoder(version);
    Packet again;
    std::string_view in = out;
    check(decoder.decode(in, again) == DecodeStatus::packet);
    check(in.empty());
    check(describe(again) == describe(p));
}

Outcome run(const std::vector<std::string_view>& chunks, Version version, std::size_t max,
            bool round_trip) {
    Decoder decoder(version, max);
    Packet packet;
    Outcome outcome;
    for (std::string_view chunk : chunks) {
        DecodeStatus status;
        while ((status = decoder.decode(chunk, packet)) == DecodeStatus::packet) {
            outcome.packets.push_back(describe(packet));
            if (round_trip) {
                check_round_trip(packet, decoder.version());
            }
        }
        if (status == DecodeStatus::error) {
            outcome.failed = true;
            outcome.reason = decoder.error().reason;
            check(decoder.buffered() == 0);
            return outcome;
        }
        check(chunk.empty());
        check(decoder.buffered() <= max);
    }
    return outcome;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::uint8_t control = data[0];
    const Version version = (control & 1) != 0 ? Version::v5 : Version::v311;
    const std::size_t max = (control & 2) != 0 ? 64 : k_max_packet_size;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::size_t split = (control >> 2) % (input.size() + 1);
    const Outcome whole = run({input}, version, max, true);
    check(run({input.substr(0, split), input.substr(split)}, version, max, false) == whole);
    if (input.size() <= 256) {
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < input.size(); ++i) {
            bytes.push_back(input.substr(i, 1));
        }
        check(run(bytes, version, max, false) == whole);
    }
    return 0;
}
