#include "listen/exec_partner.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <csignal>
#include <vector>

extern char** environ;

namespace rtx::listen {

/// The process and its two pipes. libuv frees handles only after their close callbacks,
/// which may come before or after the partner is gone: whichever comes last of the last
/// close and the partner's destructor frees this.
struct ExecPartner::Handles {
    uv_process_t process{};
    uv_pipe_t in{};  ///< The process's stdin (we write).
    uv_pipe_t out{}; ///< The process's stdout (we read).
    uv_shutdown_t in_shutdown{};
    bool in_ending = false; ///< in_shutdown was asked for.
    ExecPartner* owner = nullptr;
    int open = 0;
    bool in_closed = false;
    bool out_closed = false;
    bool process_closed = false;

    void close(uv_handle_t* handle, bool& closed) {
        if (closed) {
            return;
        }
        closed = true;
        uv_close(handle, [](uv_handle_t* h) {
            auto* self = static_cast<Handles*>(h->data);
            if (--self->open == 0 && self->owner == nullptr) {
                delete self;
            }
        });
    }
};

namespace {

struct WriteRequest {
    uv_write_t req{};
    std::string data;
};

} // namespace

ExecPartner::ExecPartner(core::Loop& loop, transport::Connection& connection, Ended ended,
                         const ExecOptions& options)
    : m_loop(loop)
    , m_connection(&connection)
    , m_ended(std::move(ended))
    , m_options(options)
    , m_framer(options.framing)
    , m_handles(new Handles)
    , m_grace(loop) {
    m_handles->owner = this;
}

ExecPartner::~ExecPartner() {
    m_handles->owner = nullptr;
    if (!m_exited) {
        uv_process_kill(&m_handles->process, SIGKILL);
    }
    m_handles->close(reinterpret_cast<uv_handle_t*>(&m_handles->in), m_handles->in_closed);
    m_handles->close(reinterpret_cast<uv_handle_t*>(&m_handles->out), m_handles->out_closed);
    if (m_exited) {
        m_handles->close(reinterpret_cast<uv_handle_t*>(&m_handles->process),
                         m_handles->process_closed);
    } else {
        // Its exit callback must still come (libuv reaps the child): it closes the handle.
    }
    if (m_handles->open == 0) {
        delete m_handles; // every handle had closed already: no callback is left to free it
    }
}

core::Result<std::unique_ptr<Partner>> ExecPartner::spawn(core::Loop& loop,
                                                          transport::Connection& connection,
                                                          const std::string& peer, Ended ended,
                                                          const ExecOptions& options) {
    std::unique_ptr<ExecPartner> partner(
        new ExecPartner(loop, connection, std::move(ended), options));
    Handles& handles = *partner->m_handles;
    uv_pipe_init(loop.native(), &handles.in, 0);
    uv_pipe_init(loop.native(), &handles.out, 0);
    handles.in.data = &handles;
    handles.out.data = &handles;
    handles.process.data = &handles;
    handles.open = 2;

    std::vector<std::string> environment;
    for (char** variable = environ; *variable != nullptr; ++variable) {
        std::string_view text(*variable);
        if (!text.starts_with("RTX_PEER=") && !text.starts_with("RTX_CONNECTION=")) {
            environment.emplace_back(text);
        }
    }
    environment.push_back("RTX_PEER=" + peer);
    environment.push_back(fmt::format("RTX_CONNECTION={}", connection.id()));
    std::vector<char*> env;
    for (auto& variable : environment) {
        env.push_back(variable.data());
    }
    env.push_back(nullptr);
    std::string shell = "/bin/sh";
    std::string dash_c = "-c";
    std::string command = options.command;
    char* args[] = {shell.data(), dash_c.data(), command.data(), nullptr};

    uv_stdio_container_t stdio[3];
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&handles.in);
    stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&handles.out);
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    uv_process_options_t spawn_options{};
    spawn_options.file = shell.c_str();
    spawn_options.args = args;
    spawn_options.env = env.data();
    spawn_options.stdio_count = 3;
    spawn_options.stdio = stdio;
    spawn_options.exit_cb = [](uv_process_t* process, std::int64_t status, int signal) {
        auto* self = static_cast<Handles*>(process->data);
        if (self->owner != nullptr) {
            self->owner->on_exit(status, signal);
            return;
        }
        self->close(reinterpret_cast<uv_handle_t*>(process), self->process_closed);
    };
    if (int rc = uv_spawn(loop.native(), &handles.process, &spawn_options); rc != 0) {
        partner->m_exited = true; // nothing to kill; the process handle closes as usual
        ++handles.open;
        return core::Error{core::ExitCode::failure,
                           fmt::format("--exec: cannot start /bin/sh: {}", uv_strerror(rc))};
    }
    ++handles.open;
    partner->start_reading();
    return std::unique_ptr<Partner>(std::move(partner));
}

void ExecPartner::deliver(const transport::Message& message) {
    if (m_handles->in_closed) {
        return;
    }
    auto* request = new WriteRequest;
    request->data.assign(message.payload);
    request->data.append(proto::framing_delimiter(m_options.framing));
    uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
    request->req.data = request;
    const int rc =
        uv_write(&request->req, reinterpret_cast<uv_stream_t*>(&m_handles->in), &buf, 1,
                 [](uv_write_t* req, int) { delete static_cast<WriteRequest*>(req->data); });
    if (rc != 0) {
        delete request; // the process closed its stdin: what it does not read is dropped
    }
}

void ExecPartner::on_output(std::string_view bytes) {
    if (m_connection == nullptr) {
        return; // the connection is gone: the process's last words go nowhere
    }
    m_framer.feed(bytes, [this](std::string_view payload) {
        if (m_connection != nullptr) {
            m_connection->send(transport::Message{payload});
        }
    });
    if (m_connection != nullptr && m_connection->buffered_bytes() > (1U << 20)) {
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&m_handles->out)); // resume() restarts it
        m_reading_paused = true;
    }
}

void ExecPartner::resume() {
    if (!m_reading_paused || m_handles->out_closed) {
        return;
    }
    m_reading_paused = false;
    start_reading();
}

void ExecPartner::start_reading() {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&m_handles->out),
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
            static thread_local char buffer[64 * 1024];
            *buf = uv_buf_init(buffer, sizeof buffer);
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
            auto* handles = static_cast<Handles*>(stream->data);
            if (handles->owner == nullptr) {
                return;
            }
            if (nread > 0) {
                handles->owner->on_output(
                    std::string_view(buf->base, static_cast<std::size_t>(nread)));
            } else if (nread < 0) {
                handles->owner->on_output_end();
            }
        });
}

void ExecPartner::on_output_end() {
    m_framer.finish([this](std::string_view payload) {
        if (m_connection != nullptr) {
            m_connection->send(transport::Message{payload});
        }
    });
    m_output_done = true;
    m_handles->close(reinterpret_cast<uv_handle_t*>(&m_handles->out), m_handles->out_closed);
    maybe_ended();
}

void ExecPartner::on_exit(std::int64_t status, int signal) {
    m_exited = true;
    m_grace.stop();
    if (signal != 0) {
        core::log_verbose("--exec: connection {}'s process ended by signal {}",
                          m_connection ? m_connection->id() : 0, signal);
    } else {
        core::log_verbose("--exec: process exited with {}", status);
    }
    m_handles->close(reinterpret_cast<uv_handle_t*>(&m_handles->process),
                     m_handles->process_closed);
    close_stdin();
    maybe_ended();
}

void ExecPartner::maybe_ended() {
    if (!m_exited || !m_output_done || m_ended_called) {
        return;
    }
    m_ended_called = true;
    if (m_connection != nullptr) {
        // Its output went first: a TCP FIN or a WebSocket close frame after it.
        m_connection->finish_sending();
    }
    m_ended(*this);
}

void ExecPartner::close_stdin() {
    m_handles->close(reinterpret_cast<uv_handle_t*>(&m_handles->in), m_handles->in_closed);
}

void ExecPartner::end_stdin() {
    if (m_handles->in_closed || m_handles->in_ending) {
        return;
    }
    m_handles->in_ending = true;
    m_handles->in_shutdown.data = m_handles;
    const int rc =
        uv_shutdown(&m_handles->in_shutdown, reinterpret_cast<uv_stream_t*>(&m_handles->in),
                    [](uv_shutdown_t* req, int) {
                        // Done, failed or cancelled by a close: either way, closed.
                        auto* self = static_cast<Handles*>(req->data);
                        self->close(reinterpret_cast<uv_handle_t*>(&self->in), self->in_closed);
                    });
    if (rc != 0) {
        close_stdin();
    }
}

bool ExecPartner::peer_finished() {
    if (m_connection == nullptr) {
        return false;
    }
    core::log_verbose("--exec: connection {} finished sending: the process's stdin ends",
                      m_connection->id());
    end_stdin(); // its output goes on to the connection until it exits (maybe_ended)
    return true;
}

void ExecPartner::finish() {
    m_connection = nullptr;
    end_stdin(); // EOF: a well-behaved process ends now
    if (m_exited) {
        m_grace.start(core::Duration{0}, [this] { maybe_ended(); }); // not from inside finish()
        return;
    }
    m_grace.start(m_options.grace, [this] {
        core::log_verbose("--exec: the process did not end after stdin closed: SIGTERM");
        uv_process_kill(&m_handles->process, SIGTERM);
        m_grace.start(m_options.grace, [this] {
            core::log_verbose("--exec: the process did not end after SIGTERM: SIGKILL");
            uv_process_kill(&m_handles->process, SIGKILL);
        });
    });
}

} // namespace rtx::listen
