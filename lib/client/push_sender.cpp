#include "client/push_sender.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "proto/vapid.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace rtx::client {

namespace {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string random_salt() {
    std::string salt(proto::ece::salt_size, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) !=
        1) {
        throw std::runtime_error("push: no random numbers from OpenSSL");
    }
    return salt;
}

/// A push service's error body for a one-line message: the first line, at most 200 octets.
std::string first_line(std::string_view body) {
    body = body.substr(0, body.find_first_of("\r\n"));
    std::string line(body.substr(0, 200));
    return core::is_valid_utf8(line) ? line : std::string("(binary body)");
}

/// The reason phrase for a status line that came without one (HTTP/2 has none, and some
/// servers send "201 " alone): the statuses push services answer (RFC 9110 section 15).
std::string_view standard_reason(long status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 410:
        return "Gone";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

bool retryable(long status) {
    // 429 (RFC 8030 section 8.4) and the 5xx a service answers when it is overloaded or
    // restarting; everything else would fail the same way again.
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

} // namespace

core::ExitCode exit_code_for_status(long status) {
    if (status >= 200 && status < 300) {
        return core::ExitCode::ok;
    }
    switch (status) {
    case 404:
    case 410:
        return core::ExitCode::gone;
    case 413:
        return core::ExitCode::too_large;
    case 429:
        return core::ExitCode::rate_limited;
    default:
        return core::ExitCode::http_status;
    }
}

PushSender::PushSender(transport::http::CurlMulti& multi, PushSendOptions options,
                       output::Sink& sink, std::function<void()> on_idle)
    : m_multi(multi)
    , m_options(std::move(options))
    , m_sink(sink)
    , m_on_idle(std::move(on_idle))
    , m_timer(multi.loop())
    , m_prepare(multi.loop()) {
    auto audience = proto::vapid::audience_of(m_options.subscription.endpoint);
    if (!audience) {
        throw core::UsageError(audience.error().message);
    }
    m_audience = std::move(audience.value());
    m_current = m_options.request;
    m_current.method = "POST";
    m_current.url = m_options.subscription.endpoint;
    m_current.has_body = true;
}

PushSender::~PushSender() = default;

const std::string& PushSender::authorization() {
    // One token serves every push of the run until half its lifetime has passed: signing is
    // the costliest step after ECDH, and services accept a token until its exp.
    std::int64_t now = unix_now();
    if (m_authorization.empty() || now >= m_authorization_renew_at) {
        auto lifetime = static_cast<std::int64_t>(m_options.vapid_lifetime.count());
        proto::vapid::Claims claims{m_audience, now + lifetime, m_options.subject};
        std::string token = proto::vapid::sign_token(claims, m_options.vapid_key);
        m_authorization = proto::vapid::authorization(token, m_options.vapid_key.public_key);
        m_authorization_renew_at = now + lifetime / 2;
    }
    return m_authorization;
}

core::Result<bool> PushSender::push(std::string_view message) {
    if (auto error = proto::ece::webpush_size_error(message.size(), m_options.padding)) {
        return *error;
    }
    m_queue.emplace_back(message);
    if (!m_busy && !m_timer.active() && !failed()) {
        m_timer.start(core::Duration{0}, [this] { start_next(); });
    }
    return true;
}

core::Result<std::string> PushSender::encrypt(std::string_view message) const {
    return proto::ece::webpush_encrypt(message, m_options.subscription.p256dh,
                                       m_options.subscription.auth, proto::p256::generate(),
                                       random_salt(), m_options.padding);
}

void PushSender::prepare() {
    if (!m_prepared && !m_queue.empty() && !failed()) {
        if (auto body = encrypt(m_queue.front())) {
            m_prepared = std::move(body.value());
        } // else start_next meets the error again and reports it
    }
}

void PushSender::start_next() {
    if (m_busy || failed()) {
        return;
    }
    if (m_queue.empty()) {
        if (m_on_idle) {
            m_on_idle();
        }
        return;
    }
    auto body =
        m_prepared ? core::Result<std::string>(std::move(*m_prepared)) : encrypt(m_queue.front());
    m_prepared.reset();
    m_queue.pop_front();
    if (!body) {
        m_result = body.error().code;
        m_error = body.error().message;
        m_queue.clear();
        if (m_on_idle) {
            m_on_idle();
        }
        return;
    }
    m_busy = true;
    m_current.body = std::move(body.value());
    send_current();
    // Encrypting the next message overlaps the service's work on this one: a timer started
    // now runs after CurlMulti's, which writes the request (both due at once, in start order).
    if (!m_queue.empty()) {
        m_prepare.start(core::Duration{0}, [this] { prepare(); });
    }
}

void PushSender::send_current() {
    auto& request = m_current;
    request.headers = m_options.request.headers;
    // RFC 8030 section 5: the push headers; RFC 8188 section 2: the content coding. "Expect:"
    // stops curl from waiting for 100-continue before a body over 1 KiB.
    request.headers.push_back("Content-Type: application/octet-stream");
    request.headers.push_back("Content-Encoding: aes128gcm");
    request.headers.push_back(fmt::format("TTL: {}", m_options.ttl));
    if (!m_options.urgency.empty()) {
        request.headers.push_back("Urgency: " + m_options.urgency);
    }
    if (!m_options.topic.empty()) {
        request.headers.push_back("Topic: " + m_options.topic);
    }
    if (!m_options.receipt.empty()) {
        request.headers.push_back("Prefer: respond-async");
        request.headers.push_back("Push-Receipt: " + m_options.receipt);
    }
    request.headers.push_back("Authorization: " + authorization());
    request.headers.push_back("Expect:");
    m_head.reset();
    m_body.clear();
    m_transfer = std::make_unique<transport::http::HttpTransfer>(m_multi, request, *this);
    m_transfer->start();
}

bool PushSender::on_response_head(const transport::http::HttpResponseHead& head) {
    m_head = head;
    return true;
}

bool PushSender::on_body(std::string_view bytes) {
    // An error body is a line or a small JSON document; keep at most 64 KiB of it.
    if (m_body.size() < 65536) {
        m_body.append(bytes.substr(0, 65536 - m_body.size()));
    }
    return true;
}

void PushSender::on_done(const transport::http::HttpResult& result) {
    PushOutcome outcome;
    if (!result.ok || !m_head) {
        outcome.exit_code = result.ok ? core::ExitCode::protocol_error : result.exit_code;
        outcome.error = result.error.empty() ? "push: no response" : result.error;
    } else {
        outcome.status = m_head->status;
        outcome.reason =
            m_head->reason.empty() ? std::string(standard_reason(m_head->status)) : m_head->reason;
        outcome.location = std::string(m_head->header("location"));
        outcome.body = std::move(m_body);
        outcome.exit_code = exit_code_for_status(outcome.status);
        if (outcome.exit_code != core::ExitCode::ok) {
            outcome.error = fmt::format("push to {}: {} {}", m_options.subscription.endpoint,
                                        outcome.status, outcome.reason);
            while (!outcome.error.empty() && outcome.error.back() == ' ') {
                outcome.error.pop_back();
            }
            if (!outcome.body.empty()) {
                outcome.error += ": " + first_line(outcome.body);
            }
        }
    }
    // on_done may destroy the transfer (curl_multi.hpp); anything next starts a turn later.
    m_transfer.reset();
    if (outcome.status != 0 && retryable(outcome.status) && m_attempt < m_options.retries) {
        ++m_attempt;
        core::Duration wait = m_head->retry_after().value_or(std::chrono::seconds(1) *
                                                             (1u << std::min(m_attempt - 1, 5u)));
        core::log_verbose("push: {} {}, retry {} of {} in {} ms", outcome.status, outcome.reason,
                          m_attempt, m_options.retries,
                          std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
        m_timer.start(wait, [this] { send_current(); });
        return;
    }
    finish(std::move(outcome));
}

void PushSender::finish(PushOutcome outcome) {
    m_attempt = 0;
    m_busy = false;
    write_record(outcome);
    if (outcome.exit_code != core::ExitCode::ok) {
        m_result = outcome.exit_code;
        m_error = outcome.error;
        m_queue.clear();
        m_prepared.reset();
        if (m_on_idle) {
            m_on_idle();
        }
        return;
    }
    ++m_sent;
    m_timer.start(core::Duration{0}, [this] { start_next(); });
}

void PushSender::write_record(const PushOutcome& outcome) {
    if (outcome.status == 0) {
        return; // a transport failure is the error line on stderr, as for every client
    }
    if (m_sink.format() != output::Format::ndjson) {
        // Text: "201 Created https://service/message/id", one line per push.
        std::string line = std::to_string(outcome.status);
        if (!outcome.reason.empty()) {
            line += " " + outcome.reason;
        }
        if (!outcome.location.empty()) {
            line += " " + outcome.location;
        }
        output::Record record;
        record.time = std::chrono::system_clock::now();
        record.protocol = "push";
        record.connection = 1;
        record.payload = line;
        m_sink.write(record);
        m_sink.flush();
        return;
    }
    std::string extra = fmt::format("\"status\":{},\"reason\":", outcome.status);
    core::append_json_string(extra, core::is_valid_utf8(outcome.reason) ? outcome.reason : "");
    extra += ",\"location\":";
    if (outcome.location.empty()) {
        extra += "null";
    } else {
        core::append_json_string(extra,
                                 core::is_valid_utf8(outcome.location) ? outcome.location : "");
    }
    output::Record record;
    record.time = std::chrono::system_clock::now();
    record.protocol = "push";
    record.connection = 1;
    record.event = "response";
    record.topic = m_options.topic;
    record.payload = outcome.body;
    record.extra_json = extra;
    m_sink.write(record);
    m_sink.flush();
}

} // namespace rtx::client
