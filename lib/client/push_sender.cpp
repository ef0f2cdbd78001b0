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

/// One push in flight: its transfer, its response, its retries.
struct PushSender::Slot final : transport::http::HttpTransferHandler {
    Slot(PushSender& owner, const transport::http::HttpRequest& base)
        : sender(owner)
        , request(base)
        , retry(owner.m_multi.loop()) {}

    bool on_response_head(const transport::http::HttpResponseHead& response) override {
        head = response;
        return true;
    }
    bool on_body(std::string_view bytes) override {
        // An error body is a line or a small JSON document; keep at most 64 KiB of it.
        if (body.size() < 65536) {
            body.append(bytes.substr(0, 65536 - body.size()));
        }
        return true;
    }
    void on_done(const transport::http::HttpResult& result) override {
        sender.on_done(*this, result);
    }

    PushSender& sender;
    transport::http::HttpRequest request;
    std::unique_ptr<transport::http::HttpTransfer> transfer;
    std::optional<transport::http::HttpResponseHead> head;
    std::string body;
    std::uint64_t sequence = 0;
    unsigned attempt = 0;
    bool busy = false;
    core::Timer retry; ///< Retry-After waits
};

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
    transport::http::HttpRequest base = m_options.request;
    base.method = "POST";
    base.url = m_options.subscription.endpoint;
    base.has_body = true;
    // Pushes started together wait for the first one's connection and share it (HTTP/2
    // streams) instead of each opening its own while it is set up.
    base.pipewait = m_options.parallel > 1;
    const std::size_t slots = std::max<std::size_t>(1, m_options.parallel);
    for (std::size_t i = 0; i < slots; ++i) {
        m_slots.push_back(std::make_unique<Slot>(*this, base));
    }
}

PushSender::~PushSender() = default;

const std::vector<std::string>& PushSender::headers() {
    // One token serves every push of the run until half its lifetime has passed: signing is
    // the costliest step after ECDH, and services accept a token until its exp.
    std::int64_t now = unix_now();
    if (m_headers.empty() || now >= m_authorization_renew_at) {
        auto lifetime = static_cast<std::int64_t>(m_options.vapid_lifetime.count());
        proto::vapid::Claims claims{m_audience, now + lifetime, m_options.subject};
        std::string token = proto::vapid::sign_token(claims, m_options.vapid_key);
        m_authorization_renew_at = now + lifetime / 2;
        // RFC 8030 section 5: the push headers; RFC 8188 section 2: the content coding.
        // "Expect:" stops curl from waiting for 100-continue before a body over 1 KiB.
        m_headers = m_options.request.headers;
        m_headers.emplace_back("Content-Type: application/octet-stream");
        m_headers.emplace_back("Content-Encoding: aes128gcm");
        m_headers.push_back(fmt::format("TTL: {}", m_options.ttl));
        if (!m_options.urgency.empty()) {
            m_headers.push_back("Urgency: " + m_options.urgency);
        }
        if (!m_options.topic.empty()) {
            m_headers.push_back("Topic: " + m_options.topic);
        }
        if (!m_options.receipt.empty()) {
            m_headers.emplace_back("Prefer: respond-async");
            m_headers.push_back("Push-Receipt: " + m_options.receipt);
        }
        m_headers.push_back("Authorization: " +
                            proto::vapid::authorization(token, m_options.vapid_key.public_key));
        m_headers.emplace_back("Expect:");
    }
    return m_headers;
}

core::Result<bool> PushSender::push(std::string_view message) {
    if (auto error = proto::ece::webpush_size_error(message.size(), m_options.padding)) {
        return *error;
    }
    if (m_stopping) {
        return true; // a push failed: nothing more is sent, the run is ending
    }
    m_queue.emplace_back(message);
    if (m_in_flight < m_slots.size() && !m_timer.active() && !m_stopping) {
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
    if (!m_prepared && !m_queue.empty() && !m_stopping) {
        if (auto body = encrypt(m_queue.front())) {
            m_prepared = std::move(body.value());
        } // else start_next meets the error again and reports it
    }
}

void PushSender::start_next() {
    for (auto& slot_pointer : m_slots) {
        if (m_stopping || m_queue.empty()) {
            break;
        }
        Slot& slot = *slot_pointer;
        if (slot.busy) {
            continue;
        }
        auto body = m_prepared ? core::Result<std::string>(std::move(*m_prepared))
                               : encrypt(m_queue.front());
        m_prepared.reset();
        m_queue.pop_front();
        if (!body) {
            // Unreachable with the size checked in push(); reported like a failed push.
            m_stopping = true;
            m_queue.clear();
            PushOutcome outcome;
            outcome.exit_code = body.error().code;
            outcome.error = body.error().message;
            m_done.emplace(m_next_sequence++, std::move(outcome));
            break;
        }
        slot.busy = true;
        ++m_in_flight;
        slot.sequence = m_next_sequence++;
        slot.request.body = std::move(body.value());
        send(slot);
    }
    write_ready();
    if (m_in_flight == 0 && (m_queue.empty() || m_stopping)) {
        if (m_on_idle) {
            m_on_idle();
        }
        return;
    }
    // Encrypting the next message overlaps the service's work on these: a timer started
    // now runs after CurlMulti's, which writes the requests (both due at once, in order).
    if (!m_queue.empty() && !m_stopping) {
        m_prepare.start(core::Duration{0}, [this] { prepare(); });
    }
}

void PushSender::send(Slot& slot) {
    slot.request.headers = headers();
    slot.head.reset();
    slot.body.clear();
    slot.transfer = std::make_unique<transport::http::HttpTransfer>(m_multi, slot.request, slot);
    slot.transfer->start();
}

void PushSender::on_done(Slot& slot, const transport::http::HttpResult& result) {
    PushOutcome outcome;
    if (!result.ok || !slot.head) {
        outcome.exit_code = result.ok ? core::ExitCode::protocol_error : result.exit_code;
        outcome.error = result.error.empty() ? "push: no response" : result.error;
    } else {
        outcome.status = slot.head->status;
        outcome.reason = slot.head->reason.empty() ? std::string(standard_reason(slot.head->status))
                                                   : slot.head->reason;
        outcome.location = std::string(slot.head->header("location"));
        outcome.body = std::move(slot.body);
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
    slot.transfer.reset();
    if (outcome.status != 0 && retryable(outcome.status) && slot.attempt < m_options.retries &&
        !m_stopping) {
        ++slot.attempt;
        core::Duration wait = slot.head->retry_after().value_or(
            std::chrono::seconds(1) * (1u << std::min(slot.attempt - 1, 5u)));
        core::log_verbose("push: {} {}, retry {} of {} in {} ms", outcome.status, outcome.reason,
                          slot.attempt, m_options.retries,
                          std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
        slot.retry.start(wait, [this, &slot] { send(slot); });
        return;
    }
    slot.attempt = 0;
    slot.busy = false;
    --m_in_flight;
    if (outcome.exit_code != core::ExitCode::ok) {
        m_stopping = true;
        m_queue.clear();
        m_prepared.reset();
    }
    m_done.emplace(slot.sequence, std::move(outcome));
    if (!m_timer.active()) {
        m_timer.start(core::Duration{0}, [this] { start_next(); });
    }
}

void PushSender::write_ready() {
    bool wrote = false;
    for (auto it = m_done.begin(); it != m_done.end() && it->first == m_next_write;
         it = m_done.erase(it), ++m_next_write) {
        const PushOutcome& outcome = it->second;
        write_record(outcome);
        wrote = true;
        if (outcome.exit_code == core::ExitCode::ok) {
            ++m_sent;
        } else if (m_result == core::ExitCode::ok) {
            m_result = outcome.exit_code;
            m_error = outcome.error;
        }
    }
    if (wrote) {
        m_sink.flush();
    }
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
}

} // namespace rtx::client
