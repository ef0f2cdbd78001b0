#pragma once
// The Web Push sender behind `rtx push send`: each message is encrypted for the subscription
// (RFC 8291), signed for with VAPID (RFC 8292) and POSTed to its endpoint with the RFC 8030
// headers, one after another on the CurlMulti's keep-alive connection. Loop thread only.
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/exit_code.hpp"
#include "core/timer.hpp"
#include "output/sink.hpp"
#include "proto/ece.hpp"
#include "transport/http/curl_multi.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace rtx::client {

struct PushSendOptions {
    proto::ece::Subscription subscription;
    proto::p256::KeyPair vapid_key;
    std::string subject; ///< sub claim: mailto: or https:; empty: none
    std::chrono::seconds vapid_lifetime{12 * 3600};
    std::uint32_t ttl = 2419200; ///< TTL header, seconds (RFC 8030 section 5.2)
    std::string urgency;         ///< Urgency header (section 5.3); empty: not sent
    std::string topic;           ///< Topic header (section 5.4); empty: not sent
    /// The receipt subscription (section 5.1): sent as Push-Receipt with Prefer:
    /// respond-async, so the service answers 202 and later posts a receipt there; empty: none.
    std::string receipt;
    std::size_t padding = 0; ///< zero octets added to each message (RFC 8188)
    unsigned retries = 0;    ///< resends after 429 or 5xx, after Retry-After
    /// The transfer settings: TLS, proxy, timeouts, -v, extra -H headers. The method, URL,
    /// body and push headers are filled in per message.
    transport::http::HttpRequest request;
};

/// What one push ended with: the service's answer or the transport's failure.
struct PushOutcome {
    long status = 0; ///< 0: no HTTP answer (see error)
    std::string reason;
    std::string location;
    std::string body;
    core::ExitCode exit_code = core::ExitCode::ok;
    std::string error; ///< one line when exit_code is not ok
};

/// The exit code for a push service's status: 2xx ok, 404/410 gone, 413 too_large,
/// 429 rate_limited, anything else http_status (RFC 8030 sections 5, 7.3, 8.4).
core::ExitCode exit_code_for_status(long status);

class PushSender final : public transport::http::HttpTransferHandler {
public:
    /// `on_idle` runs each time the queue drains and no push is in flight.
    PushSender(transport::http::CurlMulti& multi, PushSendOptions options, output::Sink& sink,
               std::function<void()> on_idle);
    ~PushSender() override;
    PushSender(const PushSender&) = delete;
    PushSender& operator=(const PushSender&) = delete;

    /// Queues one message; fails (too_large) without sending anything. Messages are
    /// encrypted one ahead: the next while the service answers the current one.
    core::Result<bool> push(std::string_view message);
    /// Messages queued or in flight.
    std::size_t pending() const { return m_queue.size() + (m_busy ? 1 : 0); }
    /// The first failure, or ok. Sending stops at the first failure: the rest of the queue
    /// is dropped (after 404/410 nothing else can be delivered either).
    core::ExitCode result() const { return m_result; }
    const std::string& error() const { return m_error; }
    bool failed() const { return m_result != core::ExitCode::ok; }
    std::uint64_t sent() const { return m_sent; }

private:
    bool on_response_head(const transport::http::HttpResponseHead& head) override;
    bool on_body(std::string_view bytes) override;
    void on_done(const transport::http::HttpResult& result) override;

    void start_next();
    /// POSTs m_current (again, after a 429 or 5xx).
    void send_current();
    /// Encrypts the queue's front into m_prepared.
    void prepare();
    core::Result<std::string> encrypt(std::string_view message) const;
    void finish(PushOutcome outcome);
    void write_record(const PushOutcome& outcome);
    const std::string& authorization();

    transport::http::CurlMulti& m_multi;
    PushSendOptions m_options;
    output::Sink& m_sink;
    std::function<void()> m_on_idle;
    std::string m_audience;
    std::string m_authorization;
    std::int64_t m_authorization_renew_at = 0;
    std::deque<std::string> m_queue; ///< plaintexts not sent yet
    /// The encrypted body of m_queue.front(), made while the previous push was in flight.
    std::optional<std::string> m_prepared;
    bool m_busy = false; ///< a push is in flight or waits for its retry
    std::unique_ptr<transport::http::HttpTransfer> m_transfer;
    transport::http::HttpRequest m_current;
    std::optional<transport::http::HttpResponseHead> m_head;
    std::string m_body;
    unsigned m_attempt = 0;
    core::Timer m_timer;   ///< next-turn starts and Retry-After waits
    core::Timer m_prepare; ///< encrypts the next message once the current one is out
    core::ExitCode m_result = core::ExitCode::ok;
    std::string m_error;
    std::uint64_t m_sent = 0;
};

} // namespace rtx::client
