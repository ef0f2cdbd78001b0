// Scale proof for the TCP transport: N concurrent connections on ONE loop against `rtx serve`,
// all open at the same time, each exchanging M echoed messages that are checked byte for byte.
// Uses exactly the transport the `rtx tcp` client uses (transport::connect). Prints one
// summary line; exits 0 only if every connection opened and every echo matched.
//
// usage: tcp_scale_probe URL CONNECTIONS MESSAGES
#include "core/loop.hpp"
#include "core/url.hpp"
#include "transport/connect.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace rtx;

/// Peak resident set of this process in KiB (VmHWM). Not getrusage: ru_maxrss survives
/// exec, so a child would report its parent's peak when that was larger.
long peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmHWM:", 0) == 0) {
            return std::strtol(line.c_str() + 6, nullptr, 10);
        }
    }
    return -1;
}

class Probe final : public transport::Handler {
public:
    Probe(core::Loop& loop, core::Url url, std::size_t connections, std::size_t messages)
        : m_loop(loop)
        , m_url(std::move(url))
        , m_target(connections)
        , m_messages(messages)
        , m_next_seq(connections, 0) {}

    void start() {
        transport::ConnectOptions options;
        options.framing = proto::Framing::lines;
        options.connect_timeout = std::chrono::seconds(30);
        for (std::size_t i = 0; i < m_target; ++i) {
            m_connections.push_back(transport::connect(m_loop, m_url, options, *this, i));
        }
    }

    void on_open(transport::Connection&) override {
        if (++m_open == m_target) {
            m_all_open_at = std::chrono::steady_clock::now();
            // Every connection is up at once: now each starts its ping-pong.
            for (auto& connection : m_connections) {
                send_next(*connection);
            }
        }
    }

    void on_message(transport::Connection& connection, const transport::Message& message) override {
        std::size_t index = connection.id();
        std::string expected = payload(index, m_next_seq[index] - 1);
        if (message.payload != expected) {
            ++m_mismatches;
        }
        ++m_echoed;
        if (m_next_seq[index] < m_messages) {
            send_next(connection);
        } else if (++m_finished == m_target) {
            m_done_at = std::chrono::steady_clock::now();
            for (auto& c : m_connections) {
                c->close();
            }
        }
    }

    void on_close(transport::Connection&, const transport::CloseInfo& info) override {
        if (info.exit_code != core::ExitCode::ok || info.by_peer) {
            if (m_errors++ == 0) {
                std::fprintf(stderr, "tcp_scale_probe: %s\n", info.reason.c_str());
            }
        }
        if (++m_closed == m_target) {
            m_loop.stop();
        }
    }

    bool report(std::chrono::steady_clock::time_point started) const {
        auto ms = [](auto a, auto b) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
        };
        bool ok = m_open == m_target && m_echoed == m_target * m_messages && m_mismatches == 0 &&
                  m_errors == 0;
        std::printf(
            "connections=%zu opened=%zu echoed=%zu mismatches=%zu errors=%zu "
            "connect_ms=%lld exchange_ms=%lld peak_rss_kib=%ld result=%s\n",
            m_target, m_open, m_echoed, m_mismatches, m_errors,
            static_cast<long long>(m_open == m_target ? ms(started, m_all_open_at) : -1),
            static_cast<long long>(m_finished == m_target ? ms(m_all_open_at, m_done_at) : -1),
            peak_rss_kib(), ok ? "ok" : "FAIL");
        return ok;
    }

private:
    static std::string payload(std::size_t index, std::size_t seq) {
        return fmt::format("conn {} message {} {}", index, seq, std::string(32, 'x'));
    }
    void send_next(transport::Connection& connection) {
        std::size_t index = connection.id();
        std::string text = payload(index, m_next_seq[index]++);
        connection.send(transport::Message{text});
    }

    core::Loop& m_loop;
    core::Url m_url;
    std::size_t m_target;
    std::size_t m_messages;
    std::vector<std::size_t> m_next_seq;
    std::vector<std::unique_ptr<transport::Connection>> m_connections;
    std::size_t m_open = 0, m_echoed = 0, m_mismatches = 0, m_errors = 0, m_finished = 0,
                m_closed = 0;
    std::chrono::steady_clock::time_point m_all_open_at, m_done_at;
};

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: tcp_scale_probe URL CONNECTIONS MESSAGES\n");
        return 2;
    }
    auto url = core::parse_url(argv[1], "tcp");
    if (!url) {
        std::fprintf(stderr, "tcp_scale_probe: %s\n", url.error().message.c_str());
        return 2;
    }
    core::raise_open_files_limit();
    core::Loop loop;
    Probe probe(loop, url.value(), std::strtoul(argv[2], nullptr, 10),
                std::strtoul(argv[3], nullptr, 10));
    auto started = std::chrono::steady_clock::now();
    probe.start();
    loop.run();
    return probe.report(started) ? 0 : 1;
}
