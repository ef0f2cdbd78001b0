// Tests for proto/sdp.hpp with a Firefox-style offer: the layout Firefox (63 and later)
// writes, as seen in public bug reports (node-webrtc #444, livekit client-sdk-js #648):
// "o=mozilla...THIS_IS_SDPARTA-<version>", the fingerprint, a=sendrecv and ice-options at
// session level only, ice-pwd before ice-ufrag, real addresses and ports on the m= and c=
// lines, candidates (UDP and TCP, host and srflx) with a=end-of-candidates, an audio, a
// video and a data-channel section in one BUNDLE group, a=max-message-size:1073741823.
// Written by hand in that format (addresses from the documentation ranges).
#include "proto/sdp.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace std::string_view_literals;
using rtx::proto::DtlsSetup;
using rtx::proto::format_answer;
using rtx::proto::LocalDescription;
using rtx::proto::parse_sdp;
using rtx::proto::SdpReader;

namespace {

constexpr std::string_view k_firefox_offer =
    "v=0\r\n"
    "o=mozilla...THIS_IS_SDPARTA-128.0 6203427161513945734 0 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=sendrecv\r\n"
    "a=fingerprint:sha-256 "
    "4F:2A:91:0C:7E:D3:58:B6:11:E0:9A:3C:C5:72:4D:8E:F1:06:2B:97:5A:E4:3D:C8:10:6F:B2:49:87:"
    "1E:D5:AC\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=ice-options:trickle\r\n"
    "a=msid-semantic:WMS *\r\n"
    "m=audio 49152 UDP/TLS/RTP/SAVPF 109 9 0 8 101\r\n"
    "c=IN IP4 192.0.2.20\r\n"
    "a=candidate:0 1 UDP 2122252543 192.0.2.20 49152 typ host\r\n"
    "a=candidate:2 1 TCP 2105524479 192.0.2.20 9 typ host tcptype active\r\n"
    "a=sendrecv\r\n"
    "a=end-of-candidates\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level\r\n"
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ice-pwd:7d6fa8fd92707c1f8b62be23c447ffc2\r\n"
    "a=ice-ufrag:25549086\r\n"
    "a=mid:0\r\n"
    "a=msid:{5b1e0c3a-4f6d-4a8e-9c2b-7d3e1f0a6b5c} {9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b}\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:109 opus/48000/2\r\n"
    "a=rtpmap:9 G722/8000/1\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000/1\r\n"
    "a=setup:actpass\r\n"
    "a=ssrc:3735928559 cname:{0f1e2d3c-4b5a-4697-8877-665544332211}\r\n"
    "m=video 49153 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98\r\n"
    "c=IN IP4 192.0.2.20\r\n"
    "a=candidate:0 1 UDP 2122252543 192.0.2.20 49153 typ host\r\n"
    "a=sendrecv\r\n"
    "a=end-of-candidates\r\n"
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1\r\n"
    "a=fmtp:120 max-fs=12288;max-fr=60\r\n"
    "a=ice-pwd:7d6fa8fd92707c1f8b62be23c447ffc2\r\n"
    "a=ice-ufrag:25549086\r\n"
    "a=mid:1\r\n"
    "a=rtcp-fb:120 nack\r\n"
    "a=rtcp-fb:120 nack pli\r\n"
    "a=rtcp-fb:120 ccm fir\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:120 VP8/90000\r\n"
    "a=rtpmap:124 rtx/90000\r\n"
    "a=setup:actpass\r\n"
    "a=ssrc-group:FID 1111111111 2222222222\r\n"
    "m=application 49154 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 192.0.2.20\r\n"
    "a=candidate:0 1 UDP 2122252543 192.0.2.20 49154 typ host\r\n"
    "a=candidate:1 1 UDP 1685987327 203.0.113.7 49154 typ srflx raddr 192.0.2.20 rport 49154\r\n"
    "a=sendrecv\r\n"
    "a=end-of-candidates\r\n"
    "a=ice-pwd:7d6fa8fd92707c1f8b62be23c447ffc2\r\n"
    "a=ice-ufrag:25549086\r\n"
    "a=mid:2\r\n"
    "a=setup:actpass\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:1073741823\r\n";

LocalDescription local_description() {
    LocalDescription local;
    local.session_id = 1234567890123456789ULL;
    local.ice_ufrag = "abcd";
    local.ice_pwd = "0123456789abcdefghijkl";
    local.fingerprint = "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:"
                        "71:82:93:A4:B5:C6:D7:E8:F9";
    local.setup = DtlsSetup::active;
    local.candidates = {"1 1 UDP 2015363327 127.0.0.1 40000 typ host"};
    return local;
}

constexpr std::string_view k_answer =
    "v=0\r\n"
    "o=- 1234567890123456789 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 2\r\n"
    "m=audio 0 UDP/TLS/RTP/SAVPF 109\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "m=video 0 UDP/TLS/RTP/SAVPF 120\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:1\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:2\r\n"
    "a=ice-ufrag:abcd\r\n"
    "a=ice-pwd:0123456789abcdefghijkl\r\n"
    "a=fingerprint:sha-256 "
    "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:"
    "D7:E8:F9\r\n"
    "a=setup:active\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n"
    "a=candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host\r\n"
    "a=end-of-candidates\r\n";

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

} // namespace

TEST_CASE("sdp: a Firefox-style offer parses: session-level fingerprint, media-level ICE") {
    auto result = parse_sdp(k_firefox_offer);
    REQUIRE_MESSAGE(result.description.has_value(), result.error);
    const auto& d = *result.description;
    CHECK(d.ice_ufrag == "25549086");
    CHECK(d.ice_pwd == "7d6fa8fd92707c1f8b62be23c447ffc2");
    CHECK(d.fingerprint == "4F:2A:91:0C:7E:D3:58:B6:11:E0:9A:3C:C5:72:4D:8E:F1:06:2B:97:5A:E4:"
                           "3D:C8:10:6F:B2:49:87:1E:D5:AC");
    CHECK(d.setup == DtlsSetup::actpass);
    CHECK(d.sctp_port == 5000);
    CHECK(d.max_message_size == 1073741823);
    // Only the data-channel section's candidates: the transport BUNDLE leaves in the answer.
    REQUIRE(d.candidates.size() == 2);
    CHECK(d.candidates[0] == "0 1 UDP 2122252543 192.0.2.20 49154 typ host");
    CHECK(d.candidates[1] ==
          "1 1 UDP 1685987327 203.0.113.7 49154 typ srflx raddr 192.0.2.20 rport 49154");
    REQUIRE(d.media.size() == 3);
    CHECK(d.data_channel_index == 2);
    CHECK(d.media[0].media == "audio");
    CHECK(d.media[0].proto == "UDP/TLS/RTP/SAVPF");
    CHECK(d.media[0].format == "109");
    CHECK(d.media[0].mid == "0");
    CHECK(d.media[1].media == "video");
    CHECK(d.media[1].format == "120");
    CHECK(d.media[1].mid == "1");
    CHECK(d.media[2].data_channel);
    CHECK(d.media[2].mid == "2");
}

TEST_CASE("sdp: the answer to a Firefox-style offer rejects audio and video, byte for byte") {
    auto offer = parse_sdp(k_firefox_offer);
    REQUIRE(offer.description.has_value());
    CHECK(format_answer(*offer.description, local_description()) == k_answer);
}

TEST_CASE("sdp: Firefox's older sdparta_N mids are repeated in the answer and its BUNDLE") {
    std::string offer = replace_all(std::string(k_firefox_offer), "a=mid:", "a=mid:sdparta_");
    offer =
        replace_all(offer, "a=group:BUNDLE 0 1 2", "a=group:BUNDLE sdparta_0 sdparta_1 sdparta_2");
    auto parsed = parse_sdp(offer);
    REQUIRE_MESSAGE(parsed.description.has_value(), parsed.error);
    std::string expected = replace_all(std::string(k_answer), "a=mid:", "a=mid:sdparta_");
    expected = replace_all(expected, "a=group:BUNDLE 2", "a=group:BUNDLE sdparta_2");
    CHECK(format_answer(*parsed.description, local_description()) == expected);
}

TEST_CASE("sdp: a Firefox-style offer split at every byte gives the same answer") {
    for (std::size_t split = 0; split <= k_firefox_offer.size(); ++split) {
        SdpReader reader;
        CHECK(reader.feed(k_firefox_offer.substr(0, split)));
        CHECK(reader.feed(k_firefox_offer.substr(split)));
        auto result = reader.finish();
        REQUIRE_MESSAGE(result.description.has_value(), "split at ", split, ": ", result.error);
        CHECK(format_answer(*result.description, local_description()) == k_answer);
    }
}

TEST_CASE("sdp: a Firefox-style offer cut anywhere inside a line is refused") {
    for (std::size_t size = 0; size < k_firefox_offer.size(); ++size) {
        if (size > 0 && k_firefox_offer[size - 1] == '\n') {
            continue;
        }
        auto result = parse_sdp(k_firefox_offer.substr(0, size));
        CHECK_FALSE_MESSAGE(result.description.has_value(), "prefix of ", size, " bytes");
        CHECK_FALSE(result.error.empty());
    }
}

TEST_CASE("sdp: Firefox before 63 (DTLS/SCTP 5000 with a=sctpmap) is refused with a reason") {
    // The pre-RFC 8841 syntax; Firefox 63 (2018) and Chromium moved off it.
    std::string offer = replace_all(std::string(k_firefox_offer),
                                    "m=application 49154 UDP/DTLS/SCTP webrtc-datachannel",
                                    "m=application 49154 DTLS/SCTP 5000");
    offer = replace_all(offer, "a=sctp-port:5000\r\n", "a=sctpmap:5000 webrtc-datachannel 256\r\n");
    auto result = parse_sdp(offer);
    CHECK_FALSE(result.description.has_value());
    CHECK(result.error == "no data-channel m= section (m=application ... webrtc-datachannel)");
}
