// Tests for proto/mqtt_codec.hpp: byte-exact packets from the MQTT 3.1.1 and 5.0 specs,
// remaining-length edges, properties, incremental decoding and malformed input.
#include "proto/mqtt_codec.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

using namespace std::string_view_literals;
using namespace rtx::proto::mqtt;

namespace {

// Decodes exactly one packet from `bytes` (which must hold nothing else).
Packet decode_one(std::string_view bytes, Version version = Version::v311) {
    Decoder decoder(version);
    Packet packet;
    std::string_view in = bytes;
    const DecodeStatus status = decoder.decode(in, packet);
    INFO("error: " << decoder.error().what);
    REQUIRE(status == DecodeStatus::packet);
    CHECK(in.empty());
    return packet;
}

// Decodes `bytes` expecting an error; returns the reason code.
std::uint8_t decode_error(std::string_view bytes, Version version = Version::v311,
                          std::size_t max_packet = k_max_packet_size) {
    Decoder decoder(version, max_packet);
    Packet packet;
    std::string_view in = bytes;
    DecodeStatus status = DecodeStatus::packet;
    while (status == DecodeStatus::packet) {
        status = decoder.decode(in, packet);
    }
    REQUIRE(status == DecodeStatus::error);
    // The decoder stays failed.
    std::string_view more = "\xC0\x00"sv;
    CHECK(decoder.decode(more, packet) == DecodeStatus::error);
    return decoder.error().reason;
}

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : bytes) {
        if (!out.empty()) {
            out += ' ';
        }
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 0xF];
    }
    return out;
}

} // namespace

TEST_CASE("CONNECT 3.1.1: encode and decode byte-exact") {
    ConnectFields c;
    c.client_id = "abc";
    c.keep_alive = 60;
    std::string out;
    REQUIRE(encode_connect(out, c));
    const auto expected = "\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03"
                          "abc"sv;
    CHECK(hex(out) == hex(expected));
    Packet p = decode_one(out);
    CHECK(p.type == PacketType::connect);
    CHECK(p.connect.protocol_level == 4);
    CHECK(p.connect.clean_start);
    CHECK(p.connect.keep_alive == 60);
    CHECK(p.connect.client_id == "abc");
    CHECK_FALSE(p.connect.will);
    CHECK_FALSE(p.connect.has_username);
}

TEST_CASE("CONNECT with will, user name and password, both versions") {
    ConnectFields c;
    c.client_id = "id";
    c.clean_start = false;
    c.keep_alive = 10;
    c.will = true;
    c.will_qos = 1;
    c.will_retain = true;
    c.will_topic = "w";
    c.will_payload = "gone";
    c.has_username = true;
    c.username = "u";
    c.has_password = true;
    c.password = "p";
    std::string out;
    REQUIRE(encode_connect(out, c));
    // flags: user 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08 | will 0x04
    CHECK(hex(out) == hex("\x10\x1d\x00\x04MQTT\x04\xec\x00\x0a\x00\x02id\x00\x01w\x00\x04gone"
                          "\x00\x01u\x00\x01p"sv));
    Packet p = decode_one(out);
    CHECK(p.connect.will);
    CHECK(p.connect.will_qos == 1);
    CHECK(p.connect.will_retain);
    CHECK(p.connect.will_topic == "w");
    CHECK(p.connect.will_payload == "gone");
    CHECK(p.connect.username == "u");
    CHECK(p.connect.password == "p");
    CHECK_FALSE(p.connect.clean_start);

    c.protocol_level = 5;
    std::string props;
    put_property_u32(props, PropertyId::session_expiry_interval, 3600);
    std::string will_props;
    put_property_u32(will_props, PropertyId::will_delay_interval, 5);
    put_property(will_props, PropertyId::content_type, "text/plain"sv);
    out.clear();
    REQUIRE(encode_connect(out, c, props, will_props));
    Decoder decoder(Version::v311); // the CONNECT itself tells the version
    Packet q;
    std::string_view in = out;
    REQUIRE(decoder.decode(in, q) == DecodeStatus::packet);
    CHECK(decoder.version() == Version::v5);
    CHECK(q.connect.protocol_level == 5);
    CHECK(q.properties.has(PropertyId::session_expiry_interval));
    CHECK(q.properties.session_expiry_interval == 3600);
    CHECK(q.connect.will_properties.will_delay_interval == 5);
    CHECK(q.connect.will_properties.content_type == "text/plain");
    CHECK(q.connect.will_properties.raw == will_props);
    CHECK(q.connect.will_topic == "w");
}

TEST_CASE("CONNECT v5 minimal is byte-exact") {
    ConnectFields c;
    c.protocol_level = 5;
    c.client_id = "abc";
    std::string out;
    REQUIRE(encode_connect(out, c));
    CHECK(hex(out) == hex("\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03"
                          "abc"sv));
}

TEST_CASE("CONNACK both versions") {
    std::string out;
    REQUIRE(encode_connack(out, Version::v311, true, 0));
    CHECK(hex(out) == hex("\x20\x02\x01\x00"sv));
    Packet p = decode_one(out);
    CHECK(p.type == PacketType::connack);
    CHECK(p.session_present);
    out.clear();
    std::string props;
    put_property(props, PropertyId::assigned_client_identifier, "x"sv);
    put_property_u16(props, PropertyId::receive_maximum, 10);
    REQUIRE(encode_connack(out, Version::v5, false, reason::not_authorized, props));
    CHECK(hex(out) == hex("\x20\x0a\x00\x87\x07\x12\x00\x01x\x21\x00\x0a"sv));
    p = decode_one(out, Version::v5);
    CHECK(p.reason_code == 0x87);
    CHECK(p.properties.assigned_client_identifier == "x");
    CHECK(p.properties.receive_maximum == 10);
}

TEST_CASE("PUBLISH QoS 0, 1, 2 both versions") {
    std::string out;
    REQUIRE(encode_publish(out, Version::v311, "a/b", "hi", 0, false, false, 0));
    CHECK(hex(out) == hex("\x30\x07\x00\x03"
                          "a/bhi"sv));
    out.clear();
    REQUIRE(encode_publish(out, Version::v311, "a/b", "hi", 1, true, true, 10));
    CHECK(hex(out) == hex("\x3b\x09\x00\x03"
                          "a/b\x00\x0ahi"sv));
    Packet p = decode_one(out);
    CHECK(p.type == PacketType::publish);
    CHECK(p.qos == 1);
    CHECK(p.dup);
    CHECK(p.retain);
    CHECK(p.packet_id == 10);
    CHECK(p.topic == "a/b");
    CHECK(p.payload == "hi");
    out.clear();
    REQUIRE(encode_publish(out, Version::v5, "a/b", "hi", 2, false, false, 0x1234));
    CHECK(hex(out) == hex("\x34\x0a\x00\x03"
                          "a/b\x12\x34\x00hi"sv));
    p = decode_one(out, Version::v5);
    CHECK(p.qos == 2);
    CHECK(p.packet_id == 0x1234);
    CHECK(p.properties.raw.empty());
    CHECK(p.payload == "hi");
}

TEST_CASE("PUBLISH v5 properties round trip") {
    std::string props;
    put_property(props, PropertyId::payload_format_indicator, std::uint8_t{1});
    put_property_u32(props, PropertyId::message_expiry_interval, 60);
    put_property(props, PropertyId::content_type, "text/plain"sv);
    put_property(props, PropertyId::response_topic, "reply/to"sv);
    put_property(props, PropertyId::correlation_data, "\x00\x01"sv);
    put_user_property(props, "k", "v");
    put_user_property(props, "k", "w");
    put_property_varint(props, PropertyId::subscription_identifier, 300);
    std::string out;
    REQUIRE(encode_publish(out, Version::v5, "t", "", 0, false, false, 0, props));
    Packet p = decode_one(out, Version::v5);
    const Properties& q = p.properties;
    CHECK(q.raw == props);
    CHECK(q.payload_format_indicator == 1);
    CHECK(q.message_expiry_interval == 60);
    CHECK(q.content_type == "text/plain");
    CHECK(q.response_topic == "reply/to");
    CHECK(q.correlation_data == "\x00\x01"sv);
    REQUIRE(q.user_properties.size() == 2);
    CHECK(q.user_properties[0].first == "k");
    CHECK(q.user_properties[1].second == "w");
    REQUIRE(q.subscription_identifiers.size() == 1);
    CHECK(q.subscription_identifiers[0] == 300);
    CHECK(p.payload.empty());
    // The user property bytes as the spec lays them out.
    std::string user;
    put_user_property(user, "k", "v");
    CHECK(hex(user) == hex("\x26\x00\x01k\x00\x01v"sv));
    // for_each_property walks the same properties.
    std::vector<PropertyId> ids;
    CHECK(for_each_property(q.raw, [&](PropertyId id, std::string_view) { ids.push_back(id); }));
    CHECK(ids.size() == 8);
    CHECK(ids.front() == PropertyId::payload_format_indicator);
}

TEST_CASE("acknowledgements") {
    struct Case {
        PacketType type;
        std::string_view bytes;
    };
    for (const Case& c : {Case{PacketType::puback, "\x40\x02\x00\x0a"sv},
                          Case{PacketType::pubrec, "\x50\x02\x00\x0a"sv},
                          Case{PacketType::pubrel, "\x62\x02\x00\x0a"sv},
                          Case{PacketType::pubcomp, "\x70\x02\x00\x0a"sv}}) {
        std::string out;
        REQUIRE(encode_ack(out, Version::v311, c.type, 10));
        CHECK(hex(out) == hex(c.bytes));
        Packet p = decode_one(out);
        CHECK(p.type == c.type);
        CHECK(p.packet_id == 10);
        out.clear();
        REQUIRE(encode_ack(out, Version::v5, c.type, 10));
        CHECK(hex(out) == hex(c.bytes)); // success without properties: the short form
    }
    std::string out;
    REQUIRE(encode_ack(out, Version::v5, PacketType::puback, 7, reason::no_matching_subscribers));
    CHECK(hex(out) == hex("\x40\x03\x00\x07\x10"sv));
    Packet p = decode_one(out, Version::v5);
    CHECK(p.reason_code == 0x10);
    // Reason code and properties.
    out.clear();
    std::string props;
    put_property(props, PropertyId::reason_string, "no"sv);
    REQUIRE(encode_ack(out, Version::v5, PacketType::pubrec, 7, 0x80, props));
    CHECK(hex(out) == hex("\x50\x09\x00\x07\x80\x05\x1f\x00\x02no"sv));
    p = decode_one(out, Version::v5);
    CHECK(p.properties.reason_string == "no");
}

TEST_CASE("SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK") {
    std::array<SubscribeTopic, 2> topics{};
    topics[0].filter = "a/#";
    topics[0].qos = 1;
    topics[1].filter = "+/b";
    topics[1].qos = 2;
    topics[1].no_local = true;
    topics[1].retain_as_published = true;
    topics[1].retain_handling = 2;
    std::string out;
    REQUIRE(encode_subscribe(out, Version::v311, 1, topics));
    // 3.1.1 carries only the QoS in the options byte.
    CHECK(hex(out) == hex("\x82\x0e\x00\x01\x00\x03"
                          "a/#\x01\x00\x03+/b\x02"sv));
    Packet p = decode_one(out);
    CHECK(p.type == PacketType::subscribe);
    REQUIRE(p.topics.size() == 2);
    CHECK(p.topics[1].filter == "+/b");
    CHECK(p.topics[1].qos == 2);
    out.clear();
    REQUIRE(encode_subscribe(out, Version::v5, 1, topics));
    CHECK(hex(out) == hex("\x82\x0f\x00\x01\x00\x00\x03"
                          "a/#\x01\x00\x03+/b\x2e"sv));
    p = decode_one(out, Version::v5);
    CHECK(p.topics[1].no_local);
    CHECK(p.topics[1].retain_as_published);
    CHECK(p.topics[1].retain_handling == 2);
    CHECK_FALSE(p.topics[0].no_local);

    const std::array<std::uint8_t, 2> codes{0x01, 0x80};
    out.clear();
    REQUIRE(encode_suback(out, Version::v311, 1, codes));
    CHECK(hex(out) == hex("\x90\x04\x00\x01\x01\x80"sv));
    out.clear();
    REQUIRE(encode_suback(out, Version::v5, 1, codes));
    CHECK(hex(out) == hex("\x90\x05\x00\x01\x00\x01\x80"sv));
    p = decode_one(out, Version::v5);
    CHECK(p.reason_codes == std::vector<std::uint8_t>{0x01, 0x80});

    const std::array<std::string_view, 1> filters{"a/#"};
    out.clear();
    REQUIRE(encode_unsubscribe(out, Version::v311, 2, filters));
    CHECK(hex(out) == hex("\xa2\x07\x00\x02\x00\x03"
                          "a/#"sv));
    p = decode_one(out);
    CHECK(p.type == PacketType::unsubscribe);
    REQUIRE(p.topics.size() == 1);
    CHECK(p.topics[0].filter == "a/#");
    const std::array<std::uint8_t, 1> ok{0x00};
    out.clear();
    REQUIRE(encode_unsuback(out, Version::v311, 2, ok));
    CHECK(hex(out) == hex("\xb0\x02\x00\x02"sv));
    out.clear();
    REQUIRE(encode_unsuback(out, Version::v5, 2, ok));
    CHECK(hex(out) == hex("\xb0\x04\x00\x02\x00\x00"sv));
}

TEST_CASE("PINGREQ, PINGRESP, DISCONNECT, AUTH") {
    std::string out;
    encode_pingreq(out);
    encode_pingresp(out);
    REQUIRE(encode_disconnect(out, Version::v311));
    REQUIRE(encode_disconnect(out, Version::v5));
    REQUIRE(encode_disconnect(out, Version::v5, reason::malformed_packet));
    REQUIRE(encode_auth(out, 0x18));
    CHECK(hex(out) == hex("\xc0\x00\xd0\x00\xe0\x00\xe0\x00\xe0\x01\x81\xf0\x01\x18"sv));
    Decoder decoder(Version::v5);
    Packet p;
    std::string_view in = out;
    std::vector<PacketType> types;
    std::vector<std::uint8_t> reasons;
    while (decoder.decode(in, p) == DecodeStatus::packet) {
        types.push_back(p.type);
        reasons.push_back(p.reason_code);
    }
    CHECK(types == std::vector<PacketType>{PacketType::pingreq, PacketType::pingresp,
                                           PacketType::disconnect, PacketType::disconnect,
                                           PacketType::disconnect, PacketType::auth});
    CHECK(reasons == std::vector<std::uint8_t>{0, 0, 0, 0, 0x81, 0x18});
    // DISCONNECT v5 with a session expiry property.
    std::string props;
    put_property_u32(props, PropertyId::session_expiry_interval, 0);
    out.clear();
    REQUIRE(encode_disconnect(out, Version::v5, 0, props));
    p = decode_one(out, Version::v5);
    CHECK(p.properties.has(PropertyId::session_expiry_interval));
}

TEST_CASE("remaining length edges: 0, 127, 128, 16383, 16384, 2097151, 2097152, max") {
    struct Case {
        std::uint32_t length;
        std::string_view encoded;
    };
    for (const Case& c : {Case{0, "\x00"sv}, Case{127, "\x7f"sv}, Case{128, "\x80\x01"sv},
                          Case{16383, "\xff\x7f"sv}, Case{16384, "\x80\x80\x01"sv},
                          Case{2097151, "\xff\xff\x7f"sv}, Case{2097152, "\x80\x80\x80\x01"sv},
                          Case{k_max_remaining_length, "\xff\xff\xff\x7f"sv}}) {
        CAPTURE(c.length);
        std::string out;
        put_varint(out, c.length);
        CHECK(hex(out) == hex(c.encoded));
        CHECK(varint_size(c.length) == c.encoded.size());
        std::string header = "\x30" + out;
        std::size_t header_size = 0;
        std::uint32_t length = 0;
        REQUIRE(parse_fixed_header(header, header_size, length) == HeaderStatus::complete);
        CHECK(length == c.length);
        CHECK(header_size == 1 + c.encoded.size());
        // One byte short of the header: incomplete, not malformed.
        CHECK(parse_fixed_header(std::string_view(header).substr(0, header.size() - 1), header_size,
                                 length) == HeaderStatus::incomplete);
    }
    // Whole PUBLISH packets across the 1/2/3-byte boundaries decode and re-encode.
    for (std::uint32_t length : {127U, 128U, 16383U, 16384U, 2097152U}) {
        CAPTURE(length);
        const std::string payload(length - 3, 'x'); // "t": 2 + 1 bytes of topic
        std::string out;
        REQUIRE(encode_publish(out, Version::v311, "t", payload, 0, false, false, 0));
        CHECK(out.size() == 1 + varint_size(length) + length);
        Packet p = decode_one(out);
        CHECK(p.payload.size() == payload.size());
    }
    // Past the maximum, the encoder refuses and leaves the buffer alone.
    std::string out = "keep";
    const std::string huge(k_max_remaining_length - 2, 'x');
    CHECK_FALSE(encode_publish(out, Version::v311, "t", huge, 0, false, false, 0));
    CHECK(out == "keep");
}

TEST_CASE("incremental decoding: any split gives the same packets") {
    std::string stream;
    ConnectFields c;
    c.protocol_level = 5;
    c.client_id = "split";
    REQUIRE(encode_connect(stream, c));
    std::string props;
    put_user_property(props, "a", "b");
    REQUIRE(encode_publish(stream, Version::v5, "x/y", std::string(300, 'p'), 1, false, false, 1,
                           props));
    encode_pingreq(stream);
    REQUIRE(encode_publish(stream, Version::v5, "z", "", 0, true, false, 0));
    REQUIRE(encode_disconnect(stream, Version::v5));

    auto run = [&](std::size_t chunk) {
        Decoder decoder;
        Packet p;
        std::vector<std::string> seen;
        for (std::size_t at = 0; at < stream.size(); at += chunk) {
            std::string_view in = std::string_view(stream).substr(at, chunk);
            DecodeStatus status;
            while ((status = decoder.decode(in, p)) == DecodeStatus::packet) {
                std::string line(packet_type_name(p.type));
                if (p.type == PacketType::publish) {
                    line += " " + std::string(p.topic) + " " + std::to_string(p.payload.size());
                    for (auto& [k, v] : p.properties.user_properties) {
                        line += " " + std::string(k) + "=" + std::string(v);
                    }
                }
                seen.push_back(line);
            }
            REQUIRE(status == DecodeStatus::need_more);
            CHECK(in.empty());
        }
        CHECK(decoder.buffered() == 0);
        return seen;
    };
    const auto whole = run(stream.size());
    CHECK(whole == std::vector<std::string>{"CONNECT", "PUBLISH x/y 300 a=b", "PINGREQ",
                                            "PUBLISH z 0", "DISCONNECT"});
    for (std::size_t chunk : {1U, 2U, 3U, 5U, 7U, 64U, 299U}) {
        CAPTURE(chunk);
        CHECK(run(chunk) == whole);
    }
}

TEST_CASE("malformed input") {
    // Remaining length: five bytes, and a non-minimal encoding.
    CHECK(decode_error("\x30\xff\xff\xff\xff\x7f"sv) == reason::malformed_packet);
    CHECK(decode_error("\x30\x80\x00"sv) == reason::malformed_packet);
    // Reserved packet type 0; AUTH in 3.1.1.
    CHECK(decode_error("\x00\x00"sv) == reason::malformed_packet);
    CHECK(decode_error("\xf0\x00"sv) == reason::malformed_packet);
    // PUBLISH QoS 3; QoS 0 with DUP; packet id 0; wildcard in the topic name; empty topic.
    CHECK(decode_error("\x36\x05\x00\x01t\x00\x01"sv) == reason::malformed_packet);
    CHECK(decode_error("\x38\x03\x00\x01t"sv) == reason::protocol_error);
    CHECK(decode_error("\x32\x05\x00\x01t\x00\x00"sv) == reason::protocol_error);
    CHECK(decode_error("\x30\x03\x00\x01#"sv) == reason::topic_name_invalid);
    CHECK(decode_error("\x30\x02\x00\x00"sv) == reason::protocol_error);
    // Wrong fixed-header flags on SUBSCRIBE and PUBREL.
    CHECK(decode_error("\x80\x06\x00\x01\x00\x01t\x00"sv) == reason::malformed_packet);
    CHECK(decode_error("\x60\x02\x00\x01"sv) == reason::malformed_packet);
    // Bytes after the end of a PINGREQ; a string longer than the packet.
    CHECK(decode_error("\xc0\x01\x00"sv) == reason::malformed_packet);
    CHECK(decode_error("\x30\x03\x00\x05t"sv) == reason::malformed_packet);
    // Invalid UTF-8 in the topic: overlong NUL, a surrogate, U+0000, a stray continuation.
    CHECK(decode_error("\x30\x04\x00\x02\xc0\x80"sv) == reason::malformed_packet);
    CHECK(decode_error("\x30\x05\x00\x03\xed\xa0\x80"sv) == reason::malformed_packet);
    CHECK(decode_error("\x30\x03\x00\x01\x00"sv) == reason::malformed_packet);
    CHECK(decode_error("\x30\x03\x00\x01\x80"sv) == reason::malformed_packet);
    // SUBSCRIBE with no filter; reserved option bits; QoS 3; v5 retain handling 3.
    CHECK(decode_error("\x82\x02\x00\x01"sv) == reason::protocol_error);
    CHECK(decode_error("\x82\x06\x00\x01\x00\x01t\x04"sv) == reason::malformed_packet);
    CHECK(decode_error("\x82\x06\x00\x01\x00\x01t\x03"sv) == reason::malformed_packet);
    CHECK(decode_error("\x82\x07\x00\x01\x00\x00\x01t\x30"sv, Version::v5) ==
          reason::protocol_error);
    // CONNECT: reserved flag; level 3 (MQTT 3.1) unsupported; unknown protocol name; will
    // QoS without will; password without user name (3.1.1).
    CHECK(decode_error("\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01x"sv) ==
          reason::malformed_packet);
    CHECK(decode_error("\x10\x0f\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01x"sv) ==
          reason::unsupported_protocol_version);
    CHECK(decode_error("\x10\x0d\x00\x04MQTX\x04\x02\x00\x3c\x00\x01x"sv) ==
          reason::malformed_packet);
    CHECK(decode_error("\x10\x0d\x00\x04MQTT\x04\x0a\x00\x3c\x00\x01x"sv) ==
          reason::malformed_packet);
    CHECK(decode_error("\x10\x0f\x00\x04MQTT\x04\x42\x00\x3c\x00\x01x\x00\x00"sv) ==
          reason::malformed_packet);
    // v5 properties: a duplicate (protocol error), one not allowed in PUBLISH, an unknown
    // identifier, receive maximum 0, a property length past the end.
    CHECK(decode_error("\x30\x0e\x00\x01t\x0a\x02\x00\x00\x00\x01\x02\x00\x00\x00\x01"sv,
                       Version::v5) == reason::protocol_error);
    CHECK(decode_error("\x30\x09\x00\x01t\x05\x11\x00\x00\x00\x01"sv, Version::v5) ==
          reason::malformed_packet);
    CHECK(decode_error("\x30\x06\x00\x01t\x02\x7e\x00"sv, Version::v5) == reason::malformed_packet);
    CHECK(decode_error("\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x00\x00\x01x"sv) ==
          reason::protocol_error);
    CHECK(decode_error("\x30\x04\x00\x01t\x09"sv, Version::v5) == reason::malformed_packet);
}

TEST_CASE("max packet size is enforced from the fixed header") {
    // A header announcing 1000 bytes fails before any of the body arrives.
    CHECK(decode_error("\x30\xe8\x07"sv, Version::v311, 100) == reason::packet_too_large);
    // Split header: the second byte arrives later.
    Decoder decoder(Version::v311, 100);
    Packet p;
    std::string_view a = "\x30\xe8"sv;
    CHECK(decoder.decode(a, p) == DecodeStatus::need_more);
    std::string_view b = "\x07"sv;
    CHECK(decoder.decode(b, p) == DecodeStatus::error);
    CHECK(decoder.error().reason == reason::packet_too_large);
    // Exactly at the limit is fine.
    std::string out;
    REQUIRE(encode_publish(out, Version::v311, "t", std::string(95, 'x'), 0, false, false, 0));
    REQUIRE(out.size() == 100);
    Decoder exact(Version::v311, 100);
    std::string_view in = out;
    CHECK(exact.decode(in, p) == DecodeStatus::packet);
}

TEST_CASE("valid_utf8_string") {
    CHECK(valid_utf8_string(""));
    CHECK(valid_utf8_string("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
    CHECK_FALSE(valid_utf8_string("\xf4\x90\x80\x80"sv)); // past U+10FFFF
    CHECK_FALSE(valid_utf8_string("\xe0\x80\xaf"sv));     // overlong
    CHECK_FALSE(valid_utf8_string("\xe2\x82"sv));         // truncated
    CHECK_FALSE(valid_utf8_string(std::string(65536, 'a')));
}
