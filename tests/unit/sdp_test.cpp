// Tests for proto/sdp.hpp: the data-channel part of SDP (RFC 8866, RFC 8841, JSEP RFC 8829).
#include "proto/sdp.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

using namespace std::string_view_literals;
using rtx::proto::DtlsSetup;
using rtx::proto::format_answer;
using rtx::proto::format_offer;
using rtx::proto::LocalDescription;
using rtx::proto::parse_sdp;
using rtx::proto::SdpReader;

namespace {

// Chromium 156's offer for createDataChannel + an audio and a video transceiver, gathered
// with `chromium --headless` on this machine (tests/e2e/chromium.py). The rtpmap/rtcp-fb/fmtp
// lines past the first codec of each section are cut for length; the data-channel section is
// whole. The full offer is the seed tests/fuzz/corpus/sdp/chromium156_audio_video_data.
constexpr std::string_view k_chromium_offer =
    "v=0\r\n"
    "o=- 3232759208737244940 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:538913504 1 udp 2113937151 7c72f31f-3b73-4989-9212-aad5447b0448.local 38971 "
    "typ host generation 0 network-cost 999\r\n"
    "a=ice-ufrag:4Sdk\r\n"
    "a=ice-pwd:l+Kjsvq7yZtF9xr7rCntHM+0\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "2D:A3:B3:37:A3:0D:70:11:F3:C6:B6:ED:D0:30:C5:8F:21:DC:AA:9C:A6:15:00:33:D5:3E:6B:A8:A6:22:"
    "B1:C4\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:4Sdk\r\n"
    "a=ice-pwd:l+Kjsvq7yZtF9xr7rCntHM+0\r\n"
    "a=fingerprint:sha-256 "
    "2D:A3:B3:37:A3:0D:70:11:F3:C6:B6:ED:D0:30:C5:8F:21:DC:AA:9C:A6:15:00:33:D5:3E:6B:A8:A6:22:"
    "B1:C4\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=candidate:538913504 1 udp 2113937151 7c72f31f-3b73-4989-9212-aad5447b0448.local 46176 "
    "typ host generation 0 network-cost 999\r\n"
    "a=candidate:3950635776 1 udp 2113942271 2fcaa5c2-0ed3-4208-be45-a9be7144899a.local 48657 "
    "typ host generation 0 network-cost 999\r\n"
    "a=ice-ufrag:4Sdk\r\n"
    "a=ice-pwd:l+Kjsvq7yZtF9xr7rCntHM+0\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "2D:A3:B3:37:A3:0D:70:11:F3:C6:B6:ED:D0:30:C5:8F:21:DC:AA:9C:A6:15:00:33:D5:3E:6B:A8:A6:22:"
    "B1:C4\r\n"
    "a=setup:actpass\r\n"
    "a=mid:2\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n";

constexpr std::string_view k_fingerprint =
    "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:"
    "D7:E8:F9";

LocalDescription local_description(DtlsSetup setup) {
    LocalDescription local;
    local.session_id = 1234567890123456789ULL;
    local.ice_ufrag = "abcd";
    local.ice_pwd = "0123456789abcdefghijkl";
    local.fingerprint = std::string(k_fingerprint);
    local.setup = setup;
    local.candidates = {"1 1 UDP 2015363327 127.0.0.1 40000 typ host"};
    return local;
}

// A minimal valid description around `data_section_attributes`.
std::string minimal(std::string_view session_attributes, std::string_view data_attributes) {
    return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + std::string(session_attributes) +
           "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n" +
           std::string(data_attributes);
}

constexpr std::string_view k_transport = "a=ice-ufrag:abcd\r\n"
                                         "a=ice-pwd:0123456789abcdefghijkl\r\n"
                                         "a=fingerprint:sha-256 "
                                         "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:"
                                         "2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n"
                                         "a=setup:active\r\n"
                                         "a=mid:d\r\n";

std::string parse_error(std::string_view text) {
    auto result = parse_sdp(text);
    CHECK_FALSE(result.description.has_value());
    return result.error;
}

} // namespace

TEST_CASE("sdp: Chromium's offer with audio and video parses to its data-channel section") {
    auto result = parse_sdp(k_chromium_offer);
    REQUIRE_MESSAGE(result.description.has_value(), result.error);
    const auto& d = *result.description;
    CHECK(d.ice_ufrag == "4Sdk");
    CHECK(d.ice_pwd == "l+Kjsvq7yZtF9xr7rCntHM+0");
    CHECK(d.fingerprint == "2D:A3:B3:37:A3:0D:70:11:F3:C6:B6:ED:D0:30:C5:8F:21:DC:AA:9C:A6:15:00:"
                           "33:D5:3E:6B:A8:A6:22:B1:C4");
    CHECK(d.setup == DtlsSetup::actpass);
    CHECK(d.sctp_port == 5000);
    CHECK(d.max_message_size == 262144);
    REQUIRE(d.candidates.size() == 2);
    CHECK(d.candidates[0] ==
          "538913504 1 udp 2113937151 7c72f31f-3b73-4989-9212-aad5447b0448.local "
          "46176 typ host generation 0 network-cost 999");
    REQUIRE(d.media.size() == 3);
    CHECK(d.data_channel_index == 2);
    CHECK(d.media[0].media == "audio");
    CHECK(d.media[0].format == "111");
    CHECK(d.media[0].mid == "0");
    CHECK_FALSE(d.media[0].data_channel);
    CHECK(d.media[1].media == "video");
    CHECK(d.media[1].mid == "1");
    CHECK(d.media[2].data_channel);
    CHECK(d.media[2].mid == "2");
    CHECK(d.media[2].proto == "UDP/DTLS/SCTP");
}

TEST_CASE("sdp: trickled candidates belong to Chromium's data section by its mid or index") {
    auto result = parse_sdp(k_chromium_offer);
    REQUIRE(result.description.has_value());
    const auto& d = *result.description;
    using rtx::proto::for_data_section;
    using Mid = std::optional<std::string>;
    using Index = std::optional<std::size_t>;
    // The data section is the third (mid "2", index 2): its candidates are taken...
    CHECK(for_data_section(d, Mid("2"), Index(2)));
    CHECK(for_data_section(d, Mid("2"), std::nullopt));
    CHECK(for_data_section(d, std::nullopt, Index(2)));
    // ... the audio and video sections' are not: their transports go once the answer
    // bundles the data section alone.
    CHECK_FALSE(for_data_section(d, Mid("0"), Index(0)));
    CHECK_FALSE(for_data_section(d, Mid("1"), Index(1)));
    CHECK_FALSE(for_data_section(d, std::nullopt, Index(0)));
    CHECK_FALSE(for_data_section(d, Mid("9"), std::nullopt));
    // sdpMid decides when both are there (W3C addIceCandidate, RFC 8829 section 4.1.17).
    CHECK(for_data_section(d, Mid("2"), Index(0)));
    CHECK_FALSE(for_data_section(d, Mid("0"), Index(2)));
    // Untagged candidates are the data section's.
    CHECK(for_data_section(d, std::nullopt, std::nullopt));
}

TEST_CASE("sdp: the answer to Chromium rejects audio and video with port 0, byte for byte") {
    auto offer = parse_sdp(k_chromium_offer);
    REQUIRE(offer.description.has_value());
    CHECK(format_answer(*offer.description, local_description(DtlsSetup::active)) ==
          "v=0\r\n"
          "o=- 1234567890123456789 2 IN IP4 127.0.0.1\r\n"
          "s=-\r\n"
          "t=0 0\r\n"
          "a=group:BUNDLE 2\r\n"
          "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"
          "c=IN IP4 0.0.0.0\r\n"
          "a=mid:0\r\n"
          "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"
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
          "a=end-of-candidates\r\n"sv);
}

TEST_CASE("sdp: our offer, byte for byte, parses back to what was put in") {
    auto local = local_description(DtlsSetup::actpass);
    std::string offer = format_offer(local);
    CHECK(offer == "v=0\r\n"
                   "o=- 1234567890123456789 2 IN IP4 127.0.0.1\r\n"
                   "s=-\r\n"
                   "t=0 0\r\n"
                   "a=group:BUNDLE 0\r\n"
                   "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                   "c=IN IP4 0.0.0.0\r\n"
                   "a=mid:0\r\n"
                   "a=ice-ufrag:abcd\r\n"
                   "a=ice-pwd:0123456789abcdefghijkl\r\n"
                   "a=fingerprint:sha-256 "
                   "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:"
                   "A4:B5:C6:D7:E8:F9\r\n"
                   "a=setup:actpass\r\n"
                   "a=sctp-port:5000\r\n"
                   "a=max-message-size:262144\r\n"
                   "a=candidate:1 1 UDP 2015363327 127.0.0.1 40000 typ host\r\n"
                   "a=end-of-candidates\r\n"sv);
    auto parsed = parse_sdp(offer);
    REQUIRE_MESSAGE(parsed.description.has_value(), parsed.error);
    CHECK(parsed.description->ice_ufrag == local.ice_ufrag);
    CHECK(parsed.description->ice_pwd == local.ice_pwd);
    CHECK(parsed.description->fingerprint == local.fingerprint);
    CHECK(parsed.description->setup == DtlsSetup::actpass);
    CHECK(parsed.description->max_message_size == 262144);
    CHECK(parsed.description->candidates == local.candidates);
    // An answer to our own offer has the one section and says who runs DTLS.
    std::string answer = format_answer(*parsed.description, local_description(DtlsSetup::passive));
    auto parsed_answer = parse_sdp(answer);
    REQUIRE_MESSAGE(parsed_answer.description.has_value(), parsed_answer.error);
    CHECK(parsed_answer.description->setup == DtlsSetup::passive);
    CHECK(parsed_answer.description->media.size() == 1);
}

TEST_CASE("sdp: a trickle offer says ice-options:trickle and has no end-of-candidates") {
    auto local = local_description(DtlsSetup::actpass);
    local.trickle = true;
    local.candidates.clear();
    std::string offer = format_offer(local);
    CHECK(offer == "v=0\r\n"
                   "o=- 1234567890123456789 2 IN IP4 127.0.0.1\r\n"
                   "s=-\r\n"
                   "t=0 0\r\n"
                   "a=group:BUNDLE 0\r\n"
                   "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
                   "c=IN IP4 0.0.0.0\r\n"
                   "a=mid:0\r\n"
                   "a=ice-ufrag:abcd\r\n"
                   "a=ice-pwd:0123456789abcdefghijkl\r\n"
                   "a=ice-options:trickle\r\n"
                   "a=fingerprint:sha-256 "
                   "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:"
                   "A4:B5:C6:D7:E8:F9\r\n"
                   "a=setup:actpass\r\n"
                   "a=sctp-port:5000\r\n"
                   "a=max-message-size:262144\r\n"sv);
    auto parsed = parse_sdp(offer);
    REQUIRE_MESSAGE(parsed.description.has_value(), parsed.error);
    CHECK(parsed.description->trickle);
    CHECK_FALSE(parsed.description->end_of_candidates);
    CHECK(parsed.description->candidates.empty());
    // The full (non-trickle) offer ends its candidates.
    auto full = parse_sdp(format_offer(local_description(DtlsSetup::actpass)));
    REQUIRE(full.description.has_value());
    CHECK_FALSE(full.description->trickle);
    CHECK(full.description->end_of_candidates);
    // Session-level ice-options apply to every section, among other options.
    auto session = parse_sdp(
        std::string(offer).insert(offer.find("a=group"), "a=ice-options:ice2 trickle\r\n"));
    REQUIRE(session.description.has_value());
    CHECK(session.description->trickle);
}

TEST_CASE("sdp: input split at every byte parses as the whole") {
    auto whole = parse_sdp(k_chromium_offer);
    REQUIRE(whole.description.has_value());
    std::string expected = format_answer(*whole.description, local_description(DtlsSetup::active));
    for (std::size_t split = 0; split <= k_chromium_offer.size(); ++split) {
        SdpReader reader;
        CHECK(reader.feed(k_chromium_offer.substr(0, split)));
        CHECK(reader.feed(k_chromium_offer.substr(split)));
        auto result = reader.finish();
        REQUIRE_MESSAGE(result.description.has_value(), "split at ", split, ": ", result.error);
        CHECK(format_answer(*result.description, local_description(DtlsSetup::active)) == expected);
    }
    SdpReader bytewise;
    for (char c : k_chromium_offer) {
        CHECK(bytewise.feed(std::string_view(&c, 1)));
    }
    CHECK(bytewise.finish().description.has_value());
}

TEST_CASE("sdp: every truncation is refused with a reason, never half-read") {
    for (std::size_t size = 0; size < k_chromium_offer.size(); ++size) {
        if (size > 0 && k_chromium_offer[size - 1] == '\n') {
            continue; // Cut on a line end: the next test case.
        }
        auto result = parse_sdp(k_chromium_offer.substr(0, size));
        CHECK_FALSE_MESSAGE(result.description.has_value(), "prefix of ", size, " bytes");
        CHECK_FALSE(result.error.empty());
    }
    CHECK(parse_error("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-") ==
          "truncated description (last line not ended)");
    CHECK(parse_error("") == "empty description");
}

TEST_CASE("sdp: prefixes that end on a line are only accepted when complete") {
    // A section complete up to a=mid parses with the RFC 8841 defaults for what is missing.
    std::size_t accepted = 0;
    for (std::size_t size = 1; size <= k_chromium_offer.size(); ++size) {
        if (k_chromium_offer[size - 1] != '\n') {
            continue;
        }
        auto result = parse_sdp(k_chromium_offer.substr(0, size));
        if (result.description.has_value()) {
            ++accepted;
            CHECK(result.description->media.size() == 3);
            CHECK(result.description->media[2].mid == "2");
            CHECK((result.description->max_message_size == 65536 ||
                   result.description->max_message_size == 262144));
        }
    }
    // After a=mid:2, after a=sctp-port and the whole: three line ends give a full section.
    CHECK(accepted == 3);
}

TEST_CASE("sdp: session-level transport attributes apply, media level wins") {
    auto result = parse_sdp(minimal("a=ice-ufrag:sess\r\n"
                                    "a=ice-pwd:sessionsessionsession1\r\n"
                                    "a=fingerprint:sha-256 "
                                    "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:"
                                    "ee:ff:00:11:22:33:44:55:66:77:88:99\r\n"
                                    "a=setup:passive\r\n",
                                    "a=ice-ufrag:medi\r\na=mid:x\r\n"));
    REQUIRE_MESSAGE(result.description.has_value(), result.error);
    CHECK(result.description->ice_ufrag == "medi");
    CHECK(result.description->ice_pwd == "sessionsessionsession1");
    // Lower-case hex is normalised to upper case (RFC 8122 section 5 says UHEX).
    CHECK(result.description->fingerprint ==
          "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:"
          "66:77:88:99");
    CHECK(result.description->setup == DtlsSetup::passive);
    CHECK(result.description->sctp_port == 5000);
    CHECK(result.description->max_message_size == 65536);
}

TEST_CASE("sdp: LF-only line ends are accepted") {
    std::string text = minimal("", k_transport);
    std::string lf;
    for (char c : text) {
        if (c != '\r') {
            lf += c;
        }
    }
    auto result = parse_sdp(lf);
    REQUIRE_MESSAGE(result.description.has_value(), result.error);
    CHECK(result.description->setup == DtlsSetup::active);
}

TEST_CASE("sdp: malformed descriptions are refused with a one-line reason") {
    CHECK(parse_error("o=- 1 2 IN IP4 127.0.0.1\r\n") == "not an SDP description (no v=0 first)");
    CHECK(parse_error("v=0\r\n") == "no m= section");
    CHECK(parse_error("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n") ==
          "no data-channel m= section (m=application ... webrtc-datachannel)");
    CHECK(parse_error("v=0\r\n\r\n") == "malformed line (not <type>=<value>)");
    CHECK(parse_error("v=0\r\nm=application 9\r\n") == "malformed m= line");
    CHECK(parse_error("v=0\r\nm=application 70000 UDP/DTLS/SCTP webrtc-datachannel\r\n") ==
          "malformed m= port");
    CHECK(parse_error(minimal("", k_transport) +
                      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n") ==
          "more than one data-channel m= section");
    CHECK(parse_error(minimal("", "a=mid:0\r\n")) ==
          "no a=ice-ufrag/a=ice-pwd for the data-channel section");
    CHECK(parse_error(minimal("", "a=ice-ufrag:abc\r\n")) == "malformed a=ice-ufrag");
    CHECK(parse_error(minimal("", "a=ice-pwd:short\r\n")) == "malformed a=ice-pwd");
    CHECK(parse_error(minimal("", "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
                                  "a=mid:0\r\n")) ==
          "no a=fingerprint for the data-channel section");
    CHECK(parse_error(minimal("", "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
                                  "a=fingerprint:sha-1 00:11\r\na=mid:0\r\n")) ==
          "no sha-256 a=fingerprint (only other hash functions)");
    CHECK(parse_error(minimal("", "a=fingerprint:sha-256 00:11\r\n")) ==
          "malformed a=fingerprint sha-256");
    CHECK(parse_error(minimal("", "a=fingerprint:sha-256\r\n")) == "malformed a=fingerprint");
    CHECK(parse_error(minimal("", "a=setup:holdconn\r\n")) == "unsupported a=setup:holdconn");
    CHECK(parse_error(minimal("", "a=sctp-port:0\r\n")) == "malformed a=sctp-port");
    CHECK(parse_error(minimal("", "a=max-message-size:x\r\n")) == "malformed a=max-message-size");
    CHECK(parse_error(minimal("", "a=candidate:\r\n")) == "empty a=candidate");
    CHECK(parse_error(minimal("", "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
                                  "a=fingerprint:sha-256 " +
                                      std::string(k_fingerprint) + "\r\n")) ==
          "no a=mid in the data-channel section");
}

TEST_CASE("sdp: descriptions past the size bound are refused") {
    std::string big = minimal("", k_transport);
    big += std::string(rtx::proto::k_max_sdp_size, 'x');
    CHECK(parse_error(big) == "description larger than 65536 bytes");
    SdpReader reader;
    CHECK(reader.feed(std::string(rtx::proto::k_max_sdp_size, 'x')));
    CHECK_FALSE(reader.feed("y"));
    CHECK(reader.finish().error == "description larger than 65536 bytes");
}
