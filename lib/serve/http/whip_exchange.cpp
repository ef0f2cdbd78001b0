#include "serve/http/whip_exchange.hpp"

#include <fmt/format.h>

namespace rtx::serve::http {

WhipExchange::WhipExchange(lws* wsi, webrtc::PeerService& peers, std::string target,
                           std::size_t max_body)
    : Exchange(wsi)
    , m_peers(peers)
    , m_target(std::move(target))
    , m_max_body(max_body) {}

WhipExchange::~WhipExchange() {
    if (m_peer_id.empty()) {
        return;
    }
    m_peers.forget_callbacks(m_peer_id);
    if (!m_answered) {
        m_peers.remove(m_peer_id); // nobody will ever learn its Location
    }
}

Next WhipExchange::on_body(std::string_view bytes) {
    return collect_body(wsi(), m_body, bytes, m_max_body);
}

Next WhipExchange::on_body_complete() {
    webrtc::PeerCallbacks callbacks;
    callbacks.on_answer = [this](const std::string& sdp) {
        m_answer = sdp;
        request_writeable();
    };
    callbacks.on_end = [this](const std::string& reason) {
        if (m_answer.empty()) {
            m_failure = reason;
            request_writeable();
        }
    };
    auto created = m_peers.create(m_target, m_body, std::move(callbacks));
    if (created.id.empty()) {
        Response response = error_response(created.status, created.error);
        if (created.status == 503) {
            response.headers.emplace_back("retry-after", "1");
        }
        response.close = m_finishing;
        return write_response(wsi(), response) && !m_finishing ? Next::done : Next::close;
    }
    m_peer_id = std::move(created.id);
    return Next::wait;
}

Next WhipExchange::on_writeable() {
    if (!m_failure.empty()) {
        write_response(wsi(), error_response(500, "the WebRTC peer failed: " + m_failure));
        return Next::close;
    }
    if (m_answer.empty()) {
        return Next::wait;
    }
    Response response;
    response.status = 201;
    response.content_type = "application/sdp";
    response.body = std::move(m_answer);
    response.headers.emplace_back("location",
                                  fmt::format("/whip/{}{}", k_whip_resource_prefix, m_peer_id));
    response.headers.emplace_back("access-control-expose-headers", "location");
    response.close = m_finishing;
    m_answered = true;
    if (!write_response(wsi(), response) || m_finishing) {
        return Next::close;
    }
    return Next::done;
}

} // namespace rtx::serve::http
