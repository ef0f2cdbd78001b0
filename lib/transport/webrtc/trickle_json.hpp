#pragma once

#include "transport/webrtc/webrtc_connection.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace rtx::transport::webrtc {

/// The signalling message for one trickled candidate, as browsers exchange them:
/// {"type":"candidate","candidate":"candidate:...","sdpMid":"2","sdpMLineIndex":2}; the end
/// of candidates has "candidate":"". Used by `rtx webrtc`'s rooms and rtx serve's
/// /webrtc/{target}.
std::string candidate_message(const TrickledCandidate& candidate);

/// The candidate of a {"type":"candidate"} message: a null or missing "candidate" is the
/// end of candidates, as an empty one is; a null or missing sdpMid / sdpMLineIndex (or one
/// of the wrong type) is left unsaid.
TrickledCandidate candidate_from_message(const nlohmann::json& message);

} // namespace rtx::transport::webrtc
