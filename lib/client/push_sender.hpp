#pragma once
// The Web Push sender behind `rtx push send`: each message is encrypted for the subscription
// (RFC 8291), signed for with VAPID (RFC 8292) and POSTed to its endpoint with the RFC 8030
// headers on the CurlMulti's keep-alive connection: one after another, or up to
// PushSendOptions::parallel at once. Loop thread only.
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
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
    /// Pushes in flight at once (--parallel): streams on one HTTP/2 connection, or that many
    /// HTTP/1.1 connections. Records are still written in input order.
    std::size_t parallel = 1;
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

class PushSender final {
public:
    /// `on_idle` runs each time the queue drains and no push is in flight.
    PushSender(transport::http::CurlMulti& multi, PushSendOptions options, output::Sink& sink,
               std::function<void()> on_idle);
    ~PushSender();
    PushSender(const PushSender&) = delete;
    PushSender& operator=(const PushSender&) = delete;

    /// Queues one message; fails (too_large) without sending anything. Messages are
    /// encrypted one ahead: the next while the service answers the ones in flight.
    core::Result<bool> push(std::string_view message);
    /// Messages queued or in flight.
    std::size_t pending() const { return m_queue.size() + m_in_flight; }
    /// The first failure in input order, or ok. Sending stops at the first failure: the rest
    /// of the queue is dropped (after 404/410 nothing else can be delivered either); pushes
    /// already in flight (--parallel) finish and are reported.
    core::ExitCode result() const { return m_result; }
    const std::string& error() const { return m_error; }
    bool failed() const { return m_result != core::ExitCode::ok; }
    std::uint64_t sent() const { return m_sent; }

private:
    struct Slot;

    void start_next();
    /// POSTs the slot's message (again, after a 429 or 5xx).
    void send(Slot& slot);
    void on_done(Slot& slot, const transport::http::HttpResult& result);
    /// Encrypts the queue's front into m_prepared.
    void prepare();
    core::Result<std::string> encrypt(std::string_view message) const;
    /// Writes the outcomes that are next in input order; the first failure becomes result().
    void write_ready();
    void write_record(const PushOutcome& outcome);
    /// The request headers of every push; rebuilt when the VAPID token is renewed.
    const std::vector<std::string>& headers();

    transport::http::CurlMulti& m_multi;
    PushSendOptions m_options;
    output::Sink& m_sink;
    std::function<void()> m_on_idle;
    std::string m_audience;
    std::vector<std::string> m_headers;
    std::int64_t m_authorization_renew_at = 0;
    std::deque<std::string> m_queue; ///< plaintexts not sent yet
    /// The encrypted body of m_queue.front(), made while earlier pushes were in flight.
    std::optional<std::string> m_prepared;
    std::vector<std::unique_ptr<Slot>> m_slots;  ///< --parallel of them
    std::size_t m_in_flight = 0;                 ///< busy slots (in flight or waiting to retry)
    bool m_stopping = false;                     ///< a push failed: start no more
    std::uint64_t m_next_sequence = 0;           ///< input order of the next push started
    std::uint64_t m_next_write = 0;              ///< input order of the next record written
    std::map<std::uint64_t, PushOutcome> m_done; ///< outcomes waiting for earlier ones
    core::Timer m_timer;                         ///< next-turn starts
    core::Timer m_prepare; ///< encrypts the next message once the current ones are out
    core::ExitCode m_result = core::ExitCode::ok;
    std::string m_error;
    std::uint64_t m_sent = 0;
};

} // namespace rtx::client
