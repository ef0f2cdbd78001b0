#pragma once

#include "serve/http/exchange.hpp"
#include "serve/webrtc/peer_service.hpp"

#include <cstddef>
#include <string>

namespace rtx::serve::http {

/// Where WHIP resources live: DELETE /whip/resource/{id} ends the session (RFC 9725 section
/// 4.2); POST /whip/{target} creates one.
inline constexpr std::string_view k_whip_resource_prefix = "resource/";

/// POST /whip/{target} (RFC 9725 section 4.2): collects the SDP offer (at most `max_body`
/// bytes), has rtx serve's peer service answer it, and once the answer is ready writes 201
/// Created with the answer (application/sdp) and the session's Location. 400 for an offer
/// that does not parse, 503 beyond --webrtc-max-peers, 500 when the peer ends before it could
/// answer. A client that leaves before the answer takes the peer with it. Loop thread only.
class WhipExchange final : public Exchange {
public:
    WhipExchange(lws* wsi, webrtc::PeerService& peers, std::string target, std::size_t max_body);
    ~WhipExchange() override;

    Next on_body(std::string_view bytes) override;
    Next on_body_complete() override;
    Next on_writeable() override;
    void begin_shutdown() override { m_finishing = true; }

private:
    webrtc::PeerService& m_peers;
    std::string m_target;
    std::size_t m_max_body;
    std::string m_body;
    std::string m_peer_id;
    std::string m_answer;
    std::string m_failure; ///< The peer ended before answering.
    bool m_answered = false;
    bool m_finishing = false;
};

} // namespace rtx::serve::http
