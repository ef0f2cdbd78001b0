// CurlMulti and HttpTransfer in the executable: each call goes to the HTTP module
// (curl_engine.hpp), loaded by the first CurlMulti.
#include "transport/http/curl_multi.hpp"

#include "core/module.hpp"
#include "transport/http/curl_engine.hpp"

#include <cstdlib>
#include <ctime>
#include <stdexcept>

namespace rtx::transport::http {

namespace {

const core::ModuleTable<CurlEngine>& loaded() {
    static const auto once = core::load_module_table<CurlEngine>("rtx-http.so", "rtx_curl_engine",
                                                                 "HTTP", k_curl_engine_abi);
    return once;
}

/// Only after a CurlMulti exists (its constructor threw otherwise).
const CurlEngine& engine() {
    return *loaded().table;
}

} // namespace

std::optional<std::string> load_http_engine() {
    if (loaded().table == nullptr) {
        return loaded().error;
    }
    return std::nullopt;
}

std::string curl_version_text() {
    if (loaded().table == nullptr) {
        return "not loaded: " + loaded().error;
    }
    return engine().library_version();
}

std::string_view HttpResponseHead::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (key == name) {
            return value;
        }
    }
    return {};
}

std::optional<core::Duration> HttpResponseHead::retry_after() const {
    std::string value(header("retry-after"));
    if (value.empty()) {
        return std::nullopt;
    }
    if (value.find_first_not_of("0123456789") == std::string::npos) {
        return std::chrono::seconds(std::strtoll(value.c_str(), nullptr, 10));
    }
    const auto when = static_cast<time_t>(engine().parse_http_date(value.c_str()));
    if (when < 0) {
        return std::nullopt; // neither seconds nor a date: ignore it
    }
    time_t delta = when - time(nullptr);
    return std::chrono::seconds(delta > 0 ? delta : 0);
}

CurlMulti::CurlMulti(core::Loop& loop)
    : m_loop(loop) {
    if (auto error = load_http_engine()) {
        throw std::runtime_error(*error);
    }
    m_impl = engine().new_multi(loop);
}

CurlMulti::~CurlMulti() {
    engine().delete_multi(m_impl);
}

void CurlMulti::keep_idle_connections(std::size_t count) {
    engine().keep_idle_connections(*m_impl, count);
}

HttpTransfer::HttpTransfer(CurlMulti& multi, const HttpRequest& request,
                           HttpTransferHandler& handler)
    : m_impl(engine().new_transfer(*multi.m_impl, request, handler)) {}

HttpTransfer::~HttpTransfer() {
    engine().release_transfer(m_impl);
}

void HttpTransfer::start() {
    engine().start_transfer(*m_impl);
}

void HttpTransfer::abort() {
    engine().abort_transfer(*m_impl);
}

} // namespace rtx::transport::http
