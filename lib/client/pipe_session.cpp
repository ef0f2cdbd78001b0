#include "client/pipe_session.hpp"

#include "client/message_io.hpp"
#include "client/run_controls.hpp"
#include "core/log.hpp"
#include "core/stdin_pump.hpp"
#include "proto/ws_codec.hpp"

#include <fmt/format.h>

#include <unistd.h>

namespace rtx::client {

using core::ExitCode;

struct PipeSession::Parts {
    Parts(core::Loop& loop, PipeSession& session)
        : controls(
              loop, session.m_sink, session.m_options.timeout, session.m_options.idle_timeout,
              [&session](ExitCode code, const std::string& error) { session.stop(code, error); },
              [&session] { return session.m_exit.has_value(); }) {}
    std::unique_ptr<core::StdinPump> pump;
    RunControls controls;
};

PipeSession::PipeSession(core::Loop& loop, PipeOptions options, output::Sink& sink)
    : m_loop(loop)
    , m_options(std::move(options))
    , m_sink(sink)
    , m_input_framer(m_options.input_framing) {}

PipeSession::~PipeSession() = default;

ExitCode PipeSession::run(transport::ReconnectingConnection::Factory factory,
                          transport::ReconnectOptions reconnect) {
    m_parts = std::make_unique<Parts>(m_loop, *this);
    m_connection = std::make_unique<transport::ReconnectingConnection>(
        m_loop, std::move(factory), std::move(reconnect), static_cast<transport::Handler&>(*this),
        1);
    m_parts->controls.start();
    if (m_options.read_stdin && !m_options.stdin_after_open) {
        start_stdin();
    }
    m_connection->start();
    if (!m_options.read_stdin && !m_options.messages.empty()) {
        // Held by the wrapper until the connection opens, then sent in order.
        for (const auto& message : m_options.messages) {
            send_input(message);
        }
        if (m_options.half_close) {
            m_connection->finish_sending();
        }
    }
    m_loop.run();
    m_sink.finish();
    m_sink.flush();
    if (m_parts->pump) {
        m_parts->pump->stop();
    }
    return m_exit.value_or(ExitCode::ok);
}

void PipeSession::start_stdin() {
    m_parts->pump = std::make_unique<core::StdinPump>(
        m_loop, STDIN_FILENO, [this](std::string_view bytes) { on_stdin(bytes); },
        [this](const std::string& error) { on_stdin_end(error); });
    m_parts->pump->start();
}

void PipeSession::touch() {
    m_parts->controls.touch();
}

void PipeSession::write_event(std::string_view event, std::string_view detail) {
    if (m_sink.format() != output::Format::ndjson) {
        return;
    }
    output::Record record;
    record.time = std::chrono::system_clock::now();
    record.protocol = m_options.protocol;
    record.connection = m_connection ? m_connection->id() : 1;
    record.event = event;
    record.lifecycle = true;
    record.payload = detail;
    if (m_options.filter.accepts(record)) {
        m_sink.write(record);
    }
}

void PipeSession::on_open(transport::Connection&) {
    write_event("open", "");
    touch();
    std::vector<std::string> held = std::exchange(m_held, {});
    for (const auto& input : held) {
        send_input(input);
    }
    if (m_finish_held && m_held.empty()) {
        m_finish_held = false;
        m_connection->finish_sending();
    }
    if (m_options.read_stdin && m_options.stdin_after_open && !m_parts->pump) {
        start_stdin();
    }
}

void PipeSession::on_head_text(transport::Connection&, std::string_view text) {
    m_sink.write_raw(text); // -i: before the body, as curl -i shows it
    m_sink.flush();
}

bool PipeSession::on_peer_finished(transport::Connection&) {
    // A half-close: the peer still reads. What stdin still holds goes to it before we end, as
    // nc does, however late the writer of stdin is; a person at a terminal is not waited for.
    if (m_exit || !m_options.read_stdin || m_stdin_done || !m_parts->pump ||
        isatty(STDIN_FILENO) == 1) {
        return false;
    }
    m_peer_finished = true;
    return true;
}

void PipeSession::on_message(transport::Connection& connection, const transport::Message& message) {
    if (m_exit) {
        return;
    }
    if (m_options.until && m_options.until->matches(message.payload)) {
        core::log_verbose("--until '{}' matched: done", m_options.until->text());
        stop(ExitCode::ok, "");
        return;
    }
    auto record = received_record(m_options, m_sink.format(), connection.id(), message, m_scratch);
    if (!record) {
        return;
    }
    m_sink.write(*record);
    touch();
    if (m_options.echo) {
        connection.send(message); // same payload, same kind (a reflector for testing)
    }
    if (m_options.count != 0 && ++m_received >= m_options.count) {
        stop(ExitCode::ok, "");
    }
}

void PipeSession::on_drain(transport::Connection&) {
    if (m_parts->pump && !m_exit) {
        m_parts->pump->resume();
    }
}

void PipeSession::on_close(transport::Connection&, const transport::CloseInfo& info) {
    if (m_sink.format() == output::Format::ndjson) {
        output::Record record;
        record.time = std::chrono::system_clock::now();
        record.protocol = m_options.protocol;
        record.connection = m_connection ? m_connection->id() : 1;
        record.event = "close";
        record.lifecycle = true;
        record.payload = info.reason;
        std::string extra;
        if (info.protocol_code != 0) {
            extra = fmt::format(R"("code":{},"by_peer":{})", info.protocol_code, info.by_peer);
        }
        record.extra_json = extra;
        if (m_options.filter.accepts(record)) {
            m_sink.write(record);
        }
    }
    if (!m_exit) {
        m_exit = info.exit_code;
        if (info.exit_code != ExitCode::ok) {
            core::log_error("{}", info.reason);
        } else if (info.by_peer && info.protocol_code != 0) {
            core::log_info("{}", info.reason); // the server's close code and reason
        } else {
            core::log_verbose("{}", info.reason);
        }
    }
    m_parts->controls.stop_timers();
    if (m_parts->pump) {
        m_parts->pump->stop();
    }
    m_loop.stop();
}

bool PipeSession::run_command(std::string_view payload) {
    auto word = [](std::string_view text, std::string_view command) {
        return text.substr(0, command.size()) == command &&
               (text.size() == command.size() || text[command.size()] == ' ');
    };
    auto rest = [](std::string_view text, std::size_t skip) {
        text.remove_prefix(std::min(skip, text.size()));
        while (!text.empty() && text.front() == ' ') {
            text.remove_prefix(1);
        }
        return text;
    };
    if (word(payload, "/ping")) {
        if (!m_connection->send_ping(rest(payload, 5))) {
            core::log_error("/ping: the connection is not open");
        }
        return true;
    }
    if (!word(payload, "/close")) {
        return false;
    }
    std::string_view arguments = rest(payload, 6);
    int code = 1000;
    std::string reason;
    if (!arguments.empty()) {
        const std::size_t space = arguments.find(' ');
        const std::string number(arguments.substr(0, space));
        char* end = nullptr;
        const long parsed = std::strtol(number.c_str(), &end, 10);
        if (end == nullptr || *end != '\0' || parsed > 9999 ||
            !proto::ws_close_code_allowed_on_wire(static_cast<int>(parsed))) {
            core::log_error("/close {}: not a close code a client may send (1000-1003, "
                            "1007-1014, 3000-4999)",
                            number);
            return true;
        }
        code = static_cast<int>(parsed);
        if (space != std::string_view::npos) {
            reason = std::string(rest(arguments, space));
        }
    }
    if (reason.size() > 123) {
        reason.resize(123); // RFC 6455 section 5.5: 125 bytes with the code
    }
    m_connection->close_with(code, reason);
    return true;
}

void PipeSession::send_input(std::string_view payload) {
    if (m_options.commands) {
        const bool command = !payload.empty() && payload.front() == '/';
        if (!m_held.empty() || (command && !m_connection->is_open())) {
            m_held.emplace_back(payload);
            return;
        }
        if (command && run_command(payload)) {
            return;
        }
    }
    ++m_input_messages;
    auto message = input_message(m_options, payload, m_scratch);
    if (!message) {
        stop(ExitCode::failure, fmt::format("stdin: message {} is not valid {}", m_input_messages,
                                            message.error().message));
        return;
    }
    m_connection->send(*message);
    touch();
}

void PipeSession::on_stdin(std::string_view bytes) {
    if (m_exit) {
        return;
    }
    bool fits =
        m_input_framer.feed(bytes, [this](std::string_view payload) { send_input(payload); });
    if (!fits) {
        stop(ExitCode::failure, "stdin: message longer than the 64 MiB limit");
        return;
    }
    if (m_connection->buffered_bytes() > m_options.high_water) {
        m_parts->pump->pause(); // on_drain resumes
    }
}

void PipeSession::on_stdin_end(const std::string& error) {
    if (m_exit) {
        return;
    }
    if (!error.empty()) {
        stop(ExitCode::failure, fmt::format("read stdin: {}", error));
        return;
    }
    m_input_framer.finish([this](std::string_view payload) { send_input(payload); });
    m_stdin_done = true;
    core::log_debug("stdin: end of input");
    if (m_options.half_close || m_peer_finished) {
        if (!m_held.empty()) {
            m_finish_held = true; // after the held inputs (on_open)
            return;
        }
        m_connection->finish_sending();
    }
}

void PipeSession::stop(ExitCode code, const std::string& error) {
    if (m_exit) {
        return;
    }
    m_exit = code;
    if (!error.empty()) {
        core::log_error("{}", error);
    }
    if (m_parts->pump) {
        m_parts->pump->stop();
    }
    m_connection->close(); // on_close stops the loop
}

} // namespace rtx::client
