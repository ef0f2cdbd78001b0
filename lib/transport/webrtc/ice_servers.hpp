#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::transport::webrtc {

/// A STUN server (RFC 8489) or a TURN relay (RFC 8656) for the ICE agent.
struct IceServer {
    std::string host;          ///< A name or an IP literal (without brackets).
    std::uint16_t port = 3478; ///< RFC 8489 section 18.8 / RFC 8656 section 17: 3478.
    std::string username;      ///< TURN only.
    std::string password;      ///< TURN only.
};

/// The servers of one peer connection (--stun, --turn, --relay-only).
struct IceServers {
    std::optional<IceServer> stun; ///< Server-reflexive candidates.
    std::optional<IceServer> turn; ///< Relayed candidates (TURN over UDP).
    /// Only relayed candidates are used (RTCConfiguration iceTransportPolicy "relay").
    bool relay_only = false;
};

/// "HOST[:PORT]" or "[IPv6][:PORT]", with an optional "stun:" prefix (RFC 7064 form);
/// a one-line reason (for a usage error) when malformed. Pure.
core::Result<IceServer> parse_stun_server(std::string_view text);

/// "turn:USER:PASS@HOST[:PORT]" (the user ends at the first ':', the password at the last
/// '@'); "turn:" may be left out. A one-line reason when malformed. Pure.
core::Result<IceServer> parse_turn_server(std::string_view text);

/// `host` as an IP literal (libnice takes literals only): itself when it is one, else the
/// first address getaddrinfo gives; Error connect_failed when it cannot be resolved.
/// Blocking: called once before ICE gathering starts.
core::Result<std::string> resolve_ice_host(const std::string& host);

} // namespace rtx::transport::webrtc
