#include "proto/sdp.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>

namespace rtx::proto {

namespace {

bool parse_decimal(std::string_view text, std::uint64_t& out) {
    if (text.empty() || text.size() > 20) {
        return false;
    }
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc() && ptr == end;
}

// Splits at single spaces (RFC 8866 section 5: fields are separated by one space).
std::vector<std::string_view> split_fields(std::string_view text) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t space = text.find(' ', start);
        if (space == std::string_view::npos) {
            fields.push_back(text.substr(start));
            break;
        }
        fields.push_back(text.substr(start, space - start));
        start = space + 1;
    }
    return fields;
}

// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 section 5.4).
bool is_ice_chars(std::string_view text, std::size_t min, std::size_t max) {
    if (text.size() < min || text.size() > max) {
        return false;
    }
    for (char c : text) {
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '+' && c != '/') {
            return false;
        }
    }
    return true;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// RFC 8122 section 5: fingerprint = hash-func SP 2UHEX *(":" 2UHEX); SHA-256 gives 32 pairs.
// Lower-case hex is accepted (browsers and pion differ) and normalised to upper case.
std::optional<std::string> parse_sha256_fingerprint(std::string_view hex) {
    if (hex.size() != 32 * 3 - 1) {
        return std::nullopt;
    }
    std::string out(hex);
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (i % 3 == 2) {
            if (out[i] != ':') {
                return std::nullopt;
            }
            continue;
        }
        auto c = static_cast<unsigned char>(out[i]);
        if (std::isxdigit(c) == 0) {
            return std::nullopt;
        }
        out[i] = static_cast<char>(std::toupper(c));
    }
    return out;
}

// The transport attributes that may sit at session level and be overridden per section.
struct TransportAttributes {
    std::optional<std::string> ice_ufrag;
    std::optional<std::string> ice_pwd;
    std::optional<std::string> fingerprint;
    bool other_fingerprint = false; ///< A fingerprint with another hash function was seen.
    std::optional<DtlsSetup> setup;
};

struct Parser {
    SessionDescription description;
    TransportAttributes session_level;
    TransportAttributes data_level;
    bool in_media = false;
    bool in_data_channel = false;
    bool data_channel_seen = false;
    std::string error;

    bool fail(std::string message) {
        error = std::move(message);
        return false;
    }

    bool media_line(std::string_view value) {
        auto fields = split_fields(value);
        if (fields.size() < 4 || fields[0].empty() || fields[1].empty() || fields[2].empty() ||
            fields[3].empty()) {
            return fail("malformed m= line");
        }
        std::string_view port = fields[1].substr(0, fields[1].find('/'));
        std::uint64_t port_number = 0;
        if (!parse_decimal(port, port_number) || port_number > 65535) {
            return fail("malformed m= port");
        }
        SdpMediaSection section;
        section.media = fields[0];
        section.proto = fields[2];
        section.format = fields[3];
        // RFC 8841 section 4.1: the data-channel section is "m=application ... webrtc-datachannel"
        // over UDP/DTLS/SCTP, TCP/DTLS/SCTP (or the older DTLS/SCTP some peers still send).
        section.data_channel = section.media == "application" &&
                               section.format == "webrtc-datachannel" &&
                               section.proto.find("DTLS/SCTP") != std::string::npos;
        in_media = true;
        in_data_channel = section.data_channel;
        if (section.data_channel) {
            if (data_channel_seen) {
                return fail("more than one data-channel m= section");
            }
            data_channel_seen = true;
            description.data_channel_index = description.media.size();
        }
        description.media.push_back(std::move(section));
        return true;
    }

    bool transport_attribute(TransportAttributes& into, std::string_view name,
                             std::string_view value, bool& handled) {
        handled = true;
        if (name == "ice-ufrag") {
            // RFC 8839 section 5.4: 4 to 256 ice-chars.
            if (!is_ice_chars(value, 4, 256)) {
                return fail("malformed a=ice-ufrag");
            }
            into.ice_ufrag = std::string(value);
        } else if (name == "ice-pwd") {
            // RFC 8839 section 5.4: 22 to 256 ice-chars.
            if (!is_ice_chars(value, 22, 256)) {
                return fail("malformed a=ice-pwd");
            }
            into.ice_pwd = std::string(value);
        } else if (name == "fingerprint") {
            std::size_t space = value.find(' ');
            if (space == std::string_view::npos) {
                return fail("malformed a=fingerprint");
            }
            if (!iequals(value.substr(0, space), "sha-256")) {
                into.other_fingerprint = true;
                return true;
            }
            auto fingerprint = parse_sha256_fingerprint(value.substr(space + 1));
            if (!fingerprint) {
                return fail("malformed a=fingerprint sha-256");
            }
            into.fingerprint = std::move(*fingerprint);
        } else if (name == "setup") {
            if (value == "actpass") {
                into.setup = DtlsSetup::actpass;
            } else if (value == "active") {
                into.setup = DtlsSetup::active;
            } else if (value == "passive") {
                into.setup = DtlsSetup::passive;
            } else {
                // RFC 8842 section 5.1: holdconn (or anything else) cannot start DTLS.
                return fail(fmt::format("unsupported a=setup:{}", value));
            }
        } else {
            handled = false;
        }
        return true;
    }

    bool data_channel_attribute(std::string_view name, std::string_view value) {
        std::uint64_t number = 0;
        if (name == "mid") {
            description.media.back().mid = std::string(value);
        } else if (name == "sctp-port") {
            if (!parse_decimal(value, number) || number == 0 || number > 65535) {
                return fail("malformed a=sctp-port");
            }
            description.sctp_port = static_cast<std::uint16_t>(number);
        } else if (name == "max-message-size") {
            if (!parse_decimal(value, number)) {
                return fail("malformed a=max-message-size");
            }
            description.max_message_size = number;
        } else if (name == "candidate") {
            if (value.empty()) {
                return fail("empty a=candidate");
            }
            description.candidates.emplace_back(value);
        } else if (name == "end-of-candidates") {
            description.end_of_candidates = true;
        }
        return true;
    }

    bool attribute_line(std::string_view value) {
        std::size_t colon = value.find(':');
        std::string_view name = value.substr(0, colon);
        std::string_view attribute_value =
            colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
        if (name.empty()) {
            return fail("malformed a= line");
        }
        if (name == "ice-options" && (!in_media || in_data_channel)) {
            // RFC 8839 section 5.6: a space-separated list of options.
            for (std::size_t at = 0; at < attribute_value.size();) {
                std::size_t end = attribute_value.find(' ', at);
                if (end == std::string_view::npos) {
                    end = attribute_value.size();
                }
                if (attribute_value.substr(at, end - at) == "trickle") {
                    description.trickle = true;
                }
                at = end + 1;
            }
            return true;
        }
        if (!in_media) {
            bool handled = false;
            return transport_attribute(session_level, name, attribute_value, handled);
        }
        if (in_data_channel) {
            bool handled = false;
            if (!transport_attribute(data_level, name, attribute_value, handled)) {
                return false;
            }
            if (handled) {
                return true;
            }
            return data_channel_attribute(name, attribute_value);
        }
        if (name == "mid") {
            description.media.back().mid = std::string(attribute_value);
        }
        return true;
    }

    bool line(std::string_view text, bool first) {
        if (text.size() < 2 || text[1] != '=' || text[0] < 'a' || text[0] > 'z') {
            return fail("malformed line (not <type>=<value>)");
        }
        char type = text[0];
        std::string_view value = text.substr(2);
        if (first) {
            // RFC 8866 section 5: the description starts with v=0.
            if (type != 'v' || value != "0") {
                return fail("not an SDP description (no v=0 first)");
            }
            return true;
        }
        if (type == 'm') {
            return media_line(value);
        }
        if (type == 'a') {
            return attribute_line(value);
        }
        return true;
    }

    bool finish() {
        if (description.media.empty()) {
            return fail("no m= section");
        }
        if (!data_channel_seen) {
            return fail("no data-channel m= section (m=application ... webrtc-datachannel)");
        }
        auto pick = [](auto& media_value, auto& session_value) {
            return media_value ? media_value : session_value;
        };
        auto ufrag = pick(data_level.ice_ufrag, session_level.ice_ufrag);
        auto pwd = pick(data_level.ice_pwd, session_level.ice_pwd);
        auto fingerprint = pick(data_level.fingerprint, session_level.fingerprint);
        auto setup = pick(data_level.setup, session_level.setup);
        if (!ufrag || !pwd) {
            return fail("no a=ice-ufrag/a=ice-pwd for the data-channel section");
        }
        if (!fingerprint) {
            return fail(data_level.other_fingerprint || session_level.other_fingerprint
                            ? "no sha-256 a=fingerprint (only other hash functions)"
                            : "no a=fingerprint for the data-channel section");
        }
        if (description.media[description.data_channel_index].mid.empty()) {
            // JSEP section 5.2.1 and RFC 8843: every section has a mid; the answer repeats it.
            return fail("no a=mid in the data-channel section");
        }
        description.ice_ufrag = std::move(*ufrag);
        description.ice_pwd = std::move(*pwd);
        description.fingerprint = std::move(*fingerprint);
        // RFC 8842 section 5.2: a missing a=setup in an offer means actpass; callers that
        // need a definite role in an answer treat actpass there as an error.
        description.setup = setup.value_or(DtlsSetup::actpass);
        return true;
    }
};

void append_line(std::string& out, std::string_view line) {
    out += line;
    out += "\r\n";
}

void append_session_header(std::string& out, const LocalDescription& local,
                           std::string_view bundle_mid) {
    append_line(out, "v=0");
    // RFC 8866 section 5.2; JSEP section 5.2.1: username "-", version 2 for the first one.
    append_line(out, fmt::format("o=- {} 2 IN IP4 127.0.0.1", local.session_id));
    append_line(out, "s=-");
    append_line(out, "t=0 0");
    // RFC 8843 section 7: one BUNDLE group with the one accepted section.
    append_line(out, fmt::format("a=group:BUNDLE {}", bundle_mid));
}

void append_data_channel_section(std::string& out, const LocalDescription& local,
                                 std::string_view proto, std::string_view mid) {
    // Port 9 and 0.0.0.0 (RFC 8840 section 4.1.1 via JSEP 5.2.1): the candidates carry the
    // real addresses.
    append_line(out, fmt::format("m=application 9 {} webrtc-datachannel", proto));
    append_line(out, "c=IN IP4 0.0.0.0");
    append_line(out, fmt::format("a=mid:{}", mid));
    append_line(out, fmt::format("a=ice-ufrag:{}", local.ice_ufrag));
    append_line(out, fmt::format("a=ice-pwd:{}", local.ice_pwd));
    if (local.trickle) {
        append_line(out, "a=ice-options:trickle");
    }
    append_line(out, fmt::format("a=fingerprint:sha-256 {}", local.fingerprint));
    append_line(out, fmt::format("a=setup:{}", dtls_setup_name(local.setup)));
    append_line(out, fmt::format("a=sctp-port:{}", local.sctp_port));
    append_line(out, fmt::format("a=max-message-size:{}", local.max_message_size));
    for (const auto& candidate : local.candidates) {
        append_line(out, fmt::format("a=candidate:{}", candidate));
    }
    if (!local.trickle) {
        append_line(out, "a=end-of-candidates");
    }
}

} // namespace

std::string_view dtls_setup_name(DtlsSetup setup) {
    switch (setup) {
    case DtlsSetup::actpass:
        return "actpass";
    case DtlsSetup::active:
        return "active";
    case DtlsSetup::passive:
        return "passive";
    }
    return "actpass";
}

SdpParseResult parse_sdp(std::string_view text) {
    SdpParseResult result;
    if (text.size() > k_max_sdp_size) {
        result.error = fmt::format("description larger than {} bytes", k_max_sdp_size);
        return result;
    }
    if (text.empty()) {
        result.error = "empty description";
        return result;
    }
    // RFC 8866 section 5: every line, the last included, ends with CRLF; a description that
    // stops mid-line was cut short.
    if (text.back() != '\n') {
        result.error = "truncated description (last line not ended)";
        return result;
    }
    Parser parser;
    std::size_t start = 0;
    bool first = true;
    while (start < text.size()) {
        std::size_t newline = text.find('\n', start);
        std::string_view line = text.substr(start, newline - start);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (!parser.line(line, first)) {
            result.error = std::move(parser.error);
            return result;
        }
        first = false;
        start = newline + 1;
    }
    if (!parser.finish()) {
        result.error = std::move(parser.error);
        return result;
    }
    result.description = std::move(parser.description);
    return result;
}

bool SdpReader::feed(std::string_view bytes) {
    if (m_overflow) {
        return false;
    }
    if (bytes.size() > k_max_sdp_size - m_text.size()) {
        m_overflow = true;
        m_text.clear();
        return false;
    }
    m_text += bytes;
    return true;
}

SdpParseResult SdpReader::finish() const {
    if (m_overflow) {
        SdpParseResult result;
        result.error = fmt::format("description larger than {} bytes", k_max_sdp_size);
        return result;
    }
    return parse_sdp(m_text);
}

std::string format_offer(const LocalDescription& local) {
    std::string out;
    append_session_header(out, local, "0");
    append_data_channel_section(out, local, "UDP/DTLS/SCTP", "0");
    return out;
}

std::string format_answer(const SessionDescription& offer, const LocalDescription& local) {
    std::string out;
    const auto& data = offer.media[offer.data_channel_index];
    append_session_header(out, local, data.mid);
    for (std::size_t i = 0; i < offer.media.size(); ++i) {
        const auto& section = offer.media[i];
        if (i == offer.data_channel_index) {
            append_data_channel_section(out, local, section.proto, section.mid);
            continue;
        }
        // RFC 3264 section 6: a rejected stream keeps its media, proto and a format, port 0.
        append_line(out, fmt::format("m={} 0 {} {}", section.media, section.proto, section.format));
        append_line(out, "c=IN IP4 0.0.0.0");
        if (!section.mid.empty()) {
            append_line(out, fmt::format("a=mid:{}", section.mid));
        }
    }
    return out;
}

bool for_data_section(const SessionDescription& description, const std::optional<std::string>& mid,
                      std::optional<std::size_t> mline_index) {
    if (mid) {
        return description.data_channel_index < description.media.size() &&
               *mid == description.media[description.data_channel_index].mid;
    }
    if (mline_index) {
        return *mline_index == description.data_channel_index;
    }
    return true;
}

} // namespace rtx::proto
