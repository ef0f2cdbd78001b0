// Tests for proto/dcep.hpp: DATA_CHANNEL_OPEN and DATA_CHANNEL_ACK (RFC 8832 section 5),
// byte by byte, and what a malformed open from a peer gives.
#include "proto/dcep.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace std::string_literals;
using rtx::proto::DataChannelOpen;
using rtx::proto::DataChannelParameters;
using rtx::proto::DcepType;
using rtx::proto::format_dcep_ack;
using rtx::proto::format_dcep_open;
using rtx::proto::parse_dcep;
using Reliability = DataChannelParameters::Reliability;

TEST_CASE("dcep: a reliable ordered open, byte by byte, and back") {
    DataChannelOpen open{{}, 0, "chat", ""};
    // Message type 0x03, channel type 0x00 (reliable, ordered), priority 0, reliability 0,
    // label length 4, protocol length 0, the label.
    const std::string wire = "\x03\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00"s + "chat";
    CHECK(format_dcep_open(open) == wire);
    auto parsed = parse_dcep(wire);
    CHECK(parsed.type == DcepType::open);
    REQUIRE(parsed.open);
    CHECK(*parsed.open == open);
    CHECK(parsed.error.empty());
}

TEST_CASE("dcep: partial reliability, unordered, priority and protocol are all carried") {
    DataChannelOpen rexmit{{false, Reliability::max_retransmits, 3}, 256, "a", "p"};
    const std::string rexmit_wire = "\x03\x81\x01\x00\x00\x00\x00\x03\x00\x01\x00\x01"s + "ap";
    CHECK(format_dcep_open(rexmit) == rexmit_wire);
    CHECK(parse_dcep(rexmit_wire).open == rexmit);

    DataChannelOpen timed{{true, Reliability::max_packet_life, 1500}, 0, "", "json"};
    const std::string timed_wire = "\x03\x02\x00\x00\x00\x00\x05\xdc\x00\x00\x00\x04"s + "json";
    CHECK(format_dcep_open(timed) == timed_wire);
    CHECK(parse_dcep(timed_wire).open == timed);
}

TEST_CASE("dcep: a reliable channel's reliability field is ignored either way") {
    DataChannelOpen open{{true, Reliability::reliable, 7}, 0, "x", ""};
    auto wire = format_dcep_open(open);
    REQUIRE(wire);
    CHECK(wire->substr(4, 4) == "\0\0\0\0"s); // sent as zero
    const std::string from_peer = "\x03\x00\x00\x00\x00\x00\x00\x09\x00\x01\x00\x00"s + "x";
    auto parsed = parse_dcep(from_peer);
    REQUIRE(parsed.open);
    CHECK(parsed.open->parameters == DataChannelParameters{});
}

TEST_CASE("dcep: an ack, with or without trailing bytes; empty and unknown types") {
    CHECK(format_dcep_ack() == "\x02"s);
    CHECK(parse_dcep("\x02"s).type == DcepType::ack);
    CHECK(parse_dcep("\x02\x00"s).type == DcepType::ack);
    CHECK(parse_dcep("").type == DcepType::unknown);
    CHECK(parse_dcep("\x04"s).type == DcepType::unknown);
    CHECK(parse_dcep("\x00"s).type == DcepType::unknown);
}

TEST_CASE("dcep: a malformed open from a peer is refused with one line") {
    auto too_short = parse_dcep("\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"s);
    CHECK(too_short.type == DcepType::open);
    CHECK(!too_short.open);
    CHECK(too_short.error == "DCEP: DATA_CHANNEL_OPEN shorter than its header");

    // Label length 5, but only 4 bytes follow the header.
    auto past_end = parse_dcep("\x03\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00"s + "chat");
    CHECK(!past_end.open);
    CHECK(past_end.error == "DCEP: DATA_CHANNEL_OPEN label/protocol past its end");

    for (char type : {'\x03', '\x83', '\x7f'}) {
        auto unknown = parse_dcep("\x03"s + type + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"s);
        CHECK(!unknown.open);
        CHECK(unknown.error.starts_with("DCEP: unknown channel type 0x"));
    }
    CHECK(parse_dcep("\x03\x83\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"s).error ==
          "DCEP: unknown channel type 0x83");
}

TEST_CASE("dcep: a label or protocol over 65,535 bytes cannot be said") {
    CHECK(!format_dcep_open(DataChannelOpen{{}, 0, std::string(65536, 'l'), ""}));
    CHECK(!format_dcep_open(DataChannelOpen{{}, 0, "", std::string(65536, 'p')}));
    auto longest = format_dcep_open(DataChannelOpen{{}, 0, std::string(65535, 'l'), ""});
    REQUIRE(longest);
    CHECK(parse_dcep(*longest).open->label.size() == 65535);
}
