#include "bench/embedded_server.hpp"

#include "core/timer.hpp"

#include <future>

namespace rtx::bench {

/// The server thread's objects, on its stack.
struct EmbeddedServer::Running {
    core::Loop loop;
    serve::Server server{loop};
    core::Timer grace{loop};
};

core::Result<std::unique_ptr<EmbeddedServer>> EmbeddedServer::start(serve::ServeOptions options) {
    std::unique_ptr<EmbeddedServer> self(new EmbeddedServer);
    std::promise<core::Result<bool>> started;
    auto ready = started.get_future();
    EmbeddedServer* raw = self.get();
    self->m_thread = std::thread([raw, options = std::move(options), &started] {
        Running running;
        auto result = running.server.start(options);
        if (!result) {
            started.set_value(result.error());
            return;
        }
        for (const auto& listener : running.server.listeners()) {
            raw->m_urls[listener->name()] = listener->url();
        }
        raw->m_running = &running;
        started.set_value(true);
        running.loop.run();
        // ~Server must not run inside a loop callback: it runs here, after run() returned.
    });
    auto result = ready.get();
    if (!result) {
        self->m_thread.join();
        return result.error();
    }
    return self;
}

EmbeddedServer::~EmbeddedServer() {
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

std::string EmbeddedServer::url(const std::string& name) const {
    auto it = m_urls.find(name);
    return it == m_urls.end() ? std::string() : it->second;
}

} // namespace rtx::bench
