// rtx webrtc --whip URL: the offer goes to a WHIP endpoint (RFC 9725) by HTTP POST.
#include "cmd/webrtc_whip.hpp"

#include "client/pipe_session.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/timer.hpp"
#include "output/sink.hpp"
#include "transport/http/curl_multi.hpp"

#include <fmt/format.h>

#include <chrono>
#include <memory>

namespace rtx::cmd {

namespace {

namespace http = transport::http;

/// How long the DELETE of the session may take at the end.
constexpr auto k_delete_timeout = std::chrono::seconds(3);
/// The largest answer we read.
constexpr std::size_t k_max_answer = 256 * 1024;

/// `location` (absolute, absolute-path or relative) against the URL it came from.
std::string resolve_location(const std::string& base, const std::string& location) {
    if (location.starts_with("http://") || location.starts_with("https://")) {
        return location;
    }
    const auto scheme_end = base.find("://");
    const auto path_start = base.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
    const std::string origin = base.substr(0, path_start);
    if (location.starts_with("/")) {
        return origin + location;
    }
    std::string path = path_start == std::string::npos ? "/" : base.substr(path_start);
    path = path.substr(0, path.find_first_of("?#"));
    return origin + path.substr(0, path.rfind('/') + 1) + location;
}

/// The first line of a response body, for an error message.
std::string first_line(std::string_view body) {
    body = body.substr(0, body.find_first_of("\r\n"));
    return std::string(body.substr(0, 200));
}

/// One WHIP request (the POST of the offer, or the DELETE at the end) and what came back.
class WhipRequest final : private http::HttpTransferHandler {
public:
    using Done = std::function<void(const WhipRequest&)>;

    WhipRequest(http::CurlMulti& multi, const http::HttpRequest& request, Done done)
        : m_done(std::move(done))
        , m_transfer(multi, request, *this) {
        m_transfer.start();
    }

    const http::HttpResponseHead& head() const { return m_head; }
    const std::string& body() const { return m_body; }
    const http::HttpResult& result() const { return m_result; }
    bool finished() const { return m_finished; }

private:
    bool on_response_head(const http::HttpResponseHead& head) override {
        m_head = head;
        return true;
    }
    bool on_body(std::string_view bytes) override {
        if (m_body.size() + bytes.size() > k_max_answer) {
            return false;
        }
        m_body.append(bytes);
        return true;
    }
    void on_done(const http::HttpResult& result) override {
        m_result = result;
        m_finished = true;
        if (m_done) {
            m_done(*this);
        }
    }

    Done m_done;
    http::HttpResponseHead m_head;
    std::string m_body;
    http::HttpResult m_result;
    bool m_finished = false;
    http::HttpTransfer m_transfer;
};

} // namespace

core::ExitCode run_whip(const std::string& url, const std::vector<std::string>& headers,
                        const ClientSettings& settings,
                        const transport::webrtc::WebrtcOptions& webrtc) {
    core::Loop loop;
    http::CurlMulti multi(loop);
    http::HttpRequest post;
    post.method = "POST";
    post.url = url;
    post.headers = headers;
    post.headers.emplace_back("Content-Type: application/sdp");
    post.has_body = true;
    post.tls = settings.connect.tls;
    post.connect_timeout = settings.connect.connect_timeout;
    post.timeout = settings.connect.connect_timeout;
    post.show_headers = core::log_level() >= core::LogLevel::debug;
    std::string location;
    std::unique_ptr<WhipRequest> offer_request;
    core::ExitCode code;
    {
        output::Sink sink = make_sink(settings);
        client::PipeSession session(loop, settings.pipe, sink);
        transport::webrtc::WebrtcConnection* current = nullptr;
        auto answered = [&](const WhipRequest& request) {
            if (current == nullptr) {
                return;
            }
            if (!request.result().ok) {
                current->fail(request.result().exit_code,
                              fmt::format("WHIP POST {}: {}", url, request.result().error));
                return;
            }
            const auto& head = request.head();
            if (head.status != 201) {
                current->fail(core::ExitCode::http_status,
                              fmt::format("WHIP POST {}: {} {}{}", url, head.status, head.reason,
                                          request.body().empty()
                                              ? std::string()
                                              : ": " + first_line(request.body())));
                return;
            }
            if (!head.header("location").empty()) {
                location = resolve_location(url, std::string(head.header("location")));
                core::log_verbose("webrtc: WHIP session {}", location);
            } else {
                core::log_verbose("webrtc: the WHIP answer has no Location: nothing to DELETE");
            }
            current->set_remote_description(request.body());
        };
        auto factory = [&](transport::Handler& handler) -> std::unique_ptr<transport::Connection> {
            auto options = webrtc;
            options.offerer = true;
            options.on_local_description = [&](const std::string& sdp) {
                core::log_verbose("webrtc: WHIP POST {}", url);
                post.body = sdp;
                offer_request = std::make_unique<WhipRequest>(multi, post, answered);
            };
            auto connection =
                transport::webrtc::make_webrtc_connection(loop, std::move(options), handler, 1);
            current = connection.get();
            connection->start();
            return connection;
        };
        code = session.run(factory, settings.reconnect);
        current = nullptr;
    }
    offer_request.reset();
    if (!location.empty()) {
        // RFC 9725 section 4.2: the client ends the session by DELETE on its Location.
        http::HttpRequest del;
        del.method = "DELETE";
        del.url = location;
        del.headers = headers;
        del.tls = post.tls;
        del.connect_timeout = std::chrono::duration_cast<core::Duration>(k_delete_timeout);
        del.timeout = del.connect_timeout;
        WhipRequest request(multi, del, [&loop](const WhipRequest&) { loop.stop(); });
        loop.run();
        if (!request.finished() || !request.result().ok) {
            core::log_verbose("webrtc: WHIP DELETE {}: {}", location,
                              request.finished() ? request.result().error : "not done");
        } else if (request.head().status == 404) {
            // The server ended the session when the peer connection closed.
            core::log_verbose("webrtc: WHIP session already ended (DELETE: 404)");
        } else if (request.head().status / 100 != 2) {
            core::log_verbose("webrtc: WHIP DELETE {}: {}", location, request.head().status);
        } else {
            core::log_verbose("webrtc: WHIP session deleted");
        }
    }
    return code;
}

} // namespace rtx::cmd
