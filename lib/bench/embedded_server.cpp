#include "bench/embedded_server.hpp"

#include "core/timer.hpp"

#include <fmt/format.h>

#include <future>
#include <map>
#include <thread>

namespace rtx::bench {

namespace {

/// The server on a thread of this process.
class ServeThread final : public EmbeddedServer {
public:
    static core::Result<std::unique_ptr<EmbeddedServer>> start(serve::ServeOptions options,
                                                               std::string_view endpoint);
    ~ServeThread() override;

private:
    /// The server thread's objects, on its stack.
    struct Running {
        core::Loop loop;
        serve::Server server{loop};
        core::Timer grace{loop};
    };

    ServeThread() = default;

    std::thread m_thread;
    Running* m_running = nullptr; ///< Lives on m_thread's stack until the thread ends.
};

core::Result<std::unique_ptr<EmbeddedServer>> ServeThread::start(serve::ServeOptions options,
                                                                 std::string_view endpoint) {
    std::unique_ptr<ServeThread> self(new ServeThread);
    std::promise<core::Result<std::string>> started;
    auto ready = started.get_future();
    ServeThread* raw = self.get();
    self->m_thread =
        std::thread([raw, options = std::move(options), &started, wanted = std::string(endpoint)] {
            Running running;
            auto result = running.server.start(options);
            if (!result) {
                started.set_value(result.error());
                return;
            }
            std::string url;
            for (const auto& listener : running.server.listeners()) {
                if (listener->name() == wanted) {
                    url = listener->url();
                }
            }
            raw->m_running = &running;
            started.set_value(url);
            running.loop.run();
            // ~Server must not run inside a loop callback: it runs here, after run() returned.
        });
    auto result = ready.get();
    if (!result) {
        self->m_thread.join();
        return result.error();
    }
    self->m_url = std::move(result.value());
    if (self->m_url.empty()) {
        return core::Error{core::ExitCode::failure,
                           fmt::format("the embedded rtx serve has no '{}' endpoint", endpoint)};
    }
    return std::unique_ptr<EmbeddedServer>(std::move(self));
}

ServeThread::~ServeThread() {
    if (m_running != nullptr) {
        Running* running = m_running;
        running->loop.post([running] {
            // As `rtx serve` does on SIGTERM: close every connection gracefully and give
            // them a moment; the unref'd grace timer lets the loop end as soon as they are.
            running->server.shutdown();
            running->grace.start(std::chrono::seconds(2), [running] { running->loop.stop(); });
            running->grace.unref();
        });
    }
    if (m_thread.joinable()) {
        m_thread.join();
    }
}

} // namespace

core::Result<std::unique_ptr<EmbeddedServer>>
EmbeddedServer::start_thread(serve::ServeOptions options, std::string_view endpoint) {
    return ServeThread::start(std::move(options), endpoint);
}

std::vector<std::string> serve_arguments(const serve::ServeOptions& options) {
    std::vector<std::string> args{"serve", "--bind", options.bind};
    auto listener = [&args](const char* port_flag, const char* off_flag,
                            const std::optional<std::uint16_t>& port) {
        if (port) {
            args.insert(args.end(), {port_flag, std::to_string(*port)});
        } else {
            args.emplace_back(off_flag);
        }
    };
    listener("--tcp-port", "--no-tcp", options.tcp_port);
    listener("--http-port", "--no-http", options.http_port);
    listener("--mqtt-port", "--no-mqtt", options.mqtt_port);
    args.insert(args.end(), {"--max-subscribers", std::to_string(options.max_subscribers),
                             "--ws-max-conns", std::to_string(options.ws_max_connections)});
    return args;
}

std::string endpoint_url(std::string_view line, std::string_view endpoint) {
    if (line.size() <= endpoint.size() || line.substr(0, endpoint.size()) != endpoint ||
        line[endpoint.size()] != ' ') {
        return {};
    }
    return std::string(line.substr(endpoint.size() + 1));
}

} // namespace rtx::bench
