#include "transport/connect_probe.hpp"

#include "core/log.hpp"
#include "core/url.hpp"
#include "transport/connect.hpp"

#include <chrono>

namespace rtx::transport {

TcpProbe::TcpProbe(core::Loop& loop, std::string host, std::uint16_t port, core::Duration timeout,
                   Done done)
    : m_done(std::move(done)) {
    core::Url url;
    url.scheme = "tcp";
    url.host = std::move(host);
    url.port = port;
    ConnectOptions options;
    if (timeout.count() > 0) {
        options.connect_timeout = timeout;
    }
    // connect() starts on the next loop turn: m_done never runs inside this constructor.
    m_connection = connect(loop, url, options, *this, 0);
}

TcpProbe::~TcpProbe() = default;

void TcpProbe::on_open(Connection& connection) {
    m_reached = true;
    connection.close();
}

void TcpProbe::on_message(Connection&, const Message&) {}

void TcpProbe::on_close(Connection&, const CloseInfo& info) {
    std::optional<CloseInfo> failure;
    if (!m_reached) {
        failure = info;
    }
    auto done = std::move(m_done); // the call may destroy this probe
    done(std::move(failure));
}

namespace {

/// The connection with_connect_probe hands back: the attempt, plus a probe after its failed
/// connect. Loop thread only.
class ProbedConnection final : public Connection, private Handler {
public:
    ProbedConnection(core::Loop& loop, ProbeTarget target, Handler& handler)
        : m_loop(loop)
        , m_target(std::move(target))
        , m_handler(handler) {}

    void attach(std::unique_ptr<Connection> inner) { m_inner = std::move(inner); }
    Handler& as_handler() { return *this; }

    bool send(const Message& message) override { return m_inner->send(message); }
    void finish_sending() override { m_inner->finish_sending(); }
    void close() override {
        if (m_probe) {
            // Closed while the probe runs: the attempt's own words are all there is.
            m_probe.reset();
            m_handler.on_close(*this, m_failure); // last: the owner may destroy us
            return;
        }
        m_inner->close();
    }
    bool is_open() const override { return !m_probe && m_inner->is_open(); }
    // A wrapper forwards every optional operation too: Connection's defaults (no ping, a
    // plain close) would silently drop `rtx ws --commands`' /ping and /close CODE.
    bool send_ping(std::string_view payload) override {
        return !m_probe && m_inner->send_ping(payload);
    }
    void close_with(int code, const std::string& reason) override {
        if (m_probe) {
            close();
            return;
        }
        m_inner->close_with(code, reason);
    }
    std::size_t buffered_bytes() const override { return m_inner->buffered_bytes(); }
    const ConnectionStats& stats() const override { return m_inner->stats(); }
    std::uint64_t id() const override { return m_inner->id(); }

private:
    void on_open(Connection&) override { m_handler.on_open(*this); }
    void on_message(Connection&, const Message& message) override {
        m_handler.on_message(*this, message);
    }
    void on_drain(Connection&) override { m_handler.on_drain(*this); }
    void on_head_text(Connection&, std::string_view text) override {
        m_handler.on_head_text(*this, text);
    }
    void on_close(Connection&, const CloseInfo& info) override {
        if (info.was_open || info.exit_code != core::ExitCode::connect_failed) {
            m_handler.on_close(*this, info); // last: the owner may destroy us
            return;
        }
        core::log_debug("{}; finding out why with a TCP connect to {}:{}", info.reason,
                        m_target.host, m_target.port);
        m_failure = info;
        m_probe = std::make_unique<TcpProbe>(
            m_loop, m_target.host, m_target.port, m_target.timeout,
            [this](std::optional<CloseInfo> failure) { probed(std::move(failure)); });
    }

    void probed(std::optional<CloseInfo> failure) {
        if (failure) {
            m_failure.exit_code = failure->exit_code;
            m_failure.reason = std::move(failure->reason);
        }
        m_probe.reset();                      // allowed: the probe touches nothing after calling us
        m_handler.on_close(*this, m_failure); // last: the owner may destroy us
    }

    core::Loop& m_loop;
    ProbeTarget m_target;
    Handler& m_handler;
    std::unique_ptr<Connection> m_inner;
    std::unique_ptr<TcpProbe> m_probe;
    CloseInfo m_failure;
};

} // namespace

std::unique_ptr<Connection>
with_connect_probe(core::Loop& loop, ProbeTarget target, Handler& handler,
                   const std::function<std::unique_ptr<Connection>(Handler&)>& make) {
    auto probed = std::make_unique<ProbedConnection>(loop, std::move(target), handler);
    probed->attach(make(probed->as_handler()));
    return probed;
}

} // namespace rtx::transport
