#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::proto {

/// The DTLS role negotiation of RFC 8842 section 5 (a=setup, from RFC 4145 section 4).
enum class DtlsSetup { actpass, active, passive };

/// "actpass", "active" or "passive".
std::string_view dtls_setup_name(DtlsSetup setup);

/// One m= section of a remote description, as much of it as an answer has to repeat
/// (JSEP, RFC 8829 section 5.3.1: the answer has the offer's m= sections in the same order,
/// those it rejects with port 0).
struct SdpMediaSection {
    std::string media;         ///< "application", "audio", "video", ...
    std::string proto;         ///< "UDP/DTLS/SCTP", "UDP/TLS/RTP/SAVPF", ...
    std::string format;        ///< The first <fmt> of the m= line ("webrtc-datachannel", "111").
    std::string mid;           ///< a=mid (RFC 8843 section 9.1); empty when absent.
    bool data_channel = false; ///< m=application ... webrtc-datachannel (RFC 8841).
};

/// What the data-channel part of a session description says: the transport parameters of
/// ICE (RFC 8839), DTLS (RFC 8842) and SCTP (RFC 8841), plus every m= section so that an
/// answer can reject the others.
struct SessionDescription {
    std::string ice_ufrag;
    std::string ice_pwd;
    /// The SHA-256 certificate fingerprint (RFC 8122 section 5) as upper-case hex pairs
    /// separated by ':' (95 characters).
    std::string fingerprint;
    DtlsSetup setup = DtlsSetup::actpass;
    std::uint16_t sctp_port = 5000;
    /// a=max-message-size (RFC 8841 section 6); RFC 8841 section 6.1: absent means 64 KiB,
    /// 0 means no limit.
    std::uint64_t max_message_size = 65536;
    /// The a=candidate values without the "candidate:" prefix ("1 1 UDP 2013266431 ...").
    std::vector<std::string> candidates;
    /// a=ice-options:trickle (RFC 8840 section 5.3): more candidates may come by signalling.
    bool trickle = false;
    /// a=end-of-candidates (RFC 8840 section 8.2): the candidates above are all of them.
    bool end_of_candidates = false;
    std::vector<SdpMediaSection> media;
    /// Index into `media` of the data-channel section. A parsed description always has one.
    std::size_t data_channel_index = 0;
};

/// Whether a trickled candidate tagged with `mid` and/or `mline_index` (the W3C
/// RTCIceCandidateInit's sdpMid and sdpMLineIndex, RFC 8829 section 4.1.17) belongs to the
/// data-channel section of `description`: sdpMid decides when present, else sdpMLineIndex;
/// with neither the candidate is taken as the data section's. A browser's offer may put
/// audio and video before the data section, each with transports (and candidates) of its
/// own until the answer bundles them; those candidates are not the data section's.
bool for_data_section(const SessionDescription& description, const std::optional<std::string>& mid,
                      std::optional<std::size_t> mline_index);

/// The result of parse_sdp: a description, or a one-line reason it was refused.
struct SdpParseResult {
    std::optional<SessionDescription> description;
    std::string error;
};

/// The largest description parse_sdp accepts. Browser offers with audio, video and a
/// data channel are 5-10 KiB; a bound keeps a hostile peer from making rtx hold megabytes.
inline constexpr std::size_t k_max_sdp_size = 64 * 1024;

/// Parses a remote session description (RFC 8866 section 5: <type>=<value> lines ended by
/// CRLF, LF alone accepted as section 5 allows). Needs v=0 first, at least one m= section,
/// exactly one m=application section whose format is webrtc-datachannel, and for it
/// ice-ufrag, ice-pwd, a sha-256 fingerprint and setup, at media or session level (media
/// level wins, RFC 8839 section 5.4 and RFC 8122 section 5). Other sections are recorded,
/// not interpreted. Pure; never throws.
SdpParseResult parse_sdp(std::string_view text);

/// Collects a description arriving in pieces (a terminal, a pipe) and parses it whole at
/// the end: the outcome never depends on where the pieces were split.
class SdpReader {
public:
    /// Appends bytes; false once the input passed k_max_sdp_size (the rest is dropped).
    bool feed(std::string_view bytes);
    /// Parses what was fed.
    SdpParseResult finish() const;

private:
    std::string m_text;
    bool m_overflow = false;
};

/// What we put in a local description for the data-channel section.
struct LocalDescription {
    std::uint64_t session_id = 0; ///< o= sess-id (RFC 8866 section 5.2); JSEP: random 62 bit.
    std::string ice_ufrag;
    std::string ice_pwd;
    std::string fingerprint; ///< Upper-case hex pairs separated by ':'.
    DtlsSetup setup = DtlsSetup::actpass;
    std::uint16_t sctp_port = 5000;
    std::uint64_t max_message_size = 262144;
    /// Candidate values without the "candidate:" prefix; all gathered before the description
    /// is written (no trickle), so a=end-of-candidates follows them (RFC 8840 section 8.2).
    std::vector<std::string> candidates;
    /// Trickle ICE (RFC 8838): a=ice-options:trickle, and no a=end-of-candidates (the
    /// candidates go by signalling).
    bool trickle = false;
};

/// Writes an offer with one m=application data-channel section, mid "0" (JSEP section 5.2.1).
std::string format_offer(const LocalDescription& local);

/// Writes the answer to `offer` (JSEP section 5.3.1): every m= section of the offer in the
/// same order with its mid, the data-channel one accepted with `local`'s parameters, every
/// other one rejected with port 0 (RFC 8829 section 5.3.1, RFC 3264 section 6) and left out
/// of the BUNDLE group.
std::string format_answer(const SessionDescription& offer, const LocalDescription& local);

} // namespace rtx::proto
