#include "serve/http/cors.hpp"

#include "serve/http/lws_context.hpp"

namespace rtx::serve::http {

namespace {
thread_local CorsPolicy* t_policy = nullptr;
}

void CorsPolicy::install(CorsPolicy* policy) {
    t_policy = policy;
}

CorsPolicy* CorsPolicy::current() {
    return t_policy;
}

void CorsPolicy::on_request(lws* wsi) {
    if (m_access.cors_origins.empty()) {
        return; // "*" for every response: nothing to remember
    }
    const auto origin = request_header(wsi, WSI_TOKEN_ORIGIN);
    m_answers[wsi] = cors_answer(m_access, origin);
}

std::optional<CorsAnswer> CorsPolicy::answer(lws* wsi) const {
    if (m_access.cors_origins.empty()) {
        return CorsAnswer{"*", false};
    }
    if (auto it = m_answers.find(wsi); it != m_answers.end()) {
        return it->second;
    }
    return std::nullopt;
}

} // namespace rtx::serve::http
