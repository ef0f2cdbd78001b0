#include "transport/webrtc/trickle_json.hpp"

#include <nlohmann/json.hpp>

namespace rtx::transport::webrtc {

std::string candidate_message(const TrickledCandidate& candidate) {
    nlohmann::json message{
        {"type", "candidate"},
        {"candidate", candidate.candidate.empty() ? "" : "candidate:" + candidate.candidate}};
    message["sdpMid"] = candidate.mid ? nlohmann::json(*candidate.mid) : nlohmann::json();
    message["sdpMLineIndex"] =
        candidate.mline_index ? nlohmann::json(*candidate.mline_index) : nlohmann::json();
    return message.dump();
}

TrickledCandidate candidate_from_message(const nlohmann::json& message) {
    TrickledCandidate candidate;
    if (auto it = message.find("candidate"); it != message.end() && it->is_string()) {
        candidate.candidate = it->get<std::string>();
    }
    if (auto it = message.find("sdpMid"); it != message.end() && it->is_string()) {
        candidate.mid = it->get<std::string>();
    }
    if (auto it = message.find("sdpMLineIndex"); it != message.end() && it->is_number_unsigned()) {
        candidate.mline_index = it->get<std::size_t>();
    }
    return candidate;
}

} // namespace rtx::transport::webrtc
