#include "client/pipe_session.hpp"

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "core/signals.hpp"
#include "core/stdin_pump.hpp"
#include "core/timer.hpp"
#include "proto/ws_codec.hpp"

#include <fmt/format.h>

#include <unistd.h>

namespace rtx::client {

using core::ExitCode;

struct PipeSession::Parts {
    Parts(core::Loop& loop, PipeSession& session)
        : deadline(loop)
        , idle(loop)
        , signals(loop, [&session](int signum) {
            if (session.m_exit) {
                // A second signal while closing: do not wait for the peer any longer.
                core::log_verbose("signal {}: exiting now", signum);
                session.m_loop.stop();
                return;
            }
            core::log_verbose("signal {}: closing", signum);
            session.stop(static_cast<ExitCode>(core::exit_status_for_signal(signum)), "");
        }) {}
    std::unique_ptr<core::StdinPump> pump;
    core::Timer deadline;
    core::Timer idle;
    core::SignalWatcher signals;
};

PipeSession::PipeSession(core::Loop& loop, PipeOptions options, output::Sink& sink)
    : m_loop(loop)
    , m_options(std::move(options))
    , m_sink(sink)
    , m_input_framer(m_options.input_framing) {}

PipeSession::~PipeSession() {
    if (m_flush_hook != 0) {
        m_loop.remove_before_poll_hook(m_flush_hook);
    }
}

ExitCode PipeSession::run(transport::ReconnectingConnection::Factory factory,
                          transport::ReconnectOptions reconnect) {
    m_parts = std::make_unique<Parts>(m_loop, *this);
    m_flush_hook = m_loop.add_before_poll_hook([this] {
        if (!m_sink.flush() && !m_exit) {
            // The reader went away (`rtx tcp ... | head -1`): not an error of ours.
            bool gone = m_sink.reader_gone();
            stop(gone ? ExitCode::ok : ExitCode::failure,
                 gone ? "" : fmt::format("write to stdout: {}", m_sink.error()));
        }
    });
    m_connection = std::make_unique<transport::ReconnectingConnection>(
        m_loop, std::move(factory), std::move(reconnect), static_cast<transport::Handler&>(*this),
        1);
    if (m_options.timeout.count() > 0) {
        m_parts->deadline.start(m_options.timeout, [this] {
            stop(ExitCode::timeout,
                 fmt::format("timed out after {}", core::format_duration(m_options.timeout)));
        });
    }
    touch();
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
    if (m_options.idle_timeout.count() > 0) {
        m_parts->idle.start(m_options.idle_timeout, [this] {
            stop(ExitCode::timeout, fmt::format("idle for {}, closing",
                                                core::format_duration(m_options.idle_timeout)));
        });
    }
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

void PipeSession::on_message(transport::Connection& connection, const transport::Message& message) {
    if (m_exit) {
        return;
    }
    output::Record record;
    record.time = std::chrono::system_clock::now();
    record.protocol = m_options.protocol;
    record.connection = connection.id();
    record.topic = message.topic;
    record.id = message.id;
    record.payload = message.payload;
    record.binary = message.kind == transport::PayloadKind::binary;
    if (!message.topic.empty() && m_options.protocol == "sse") {
        record.event = message.topic;
    }
    if (!m_options.filter.accepts(record)) {
        return;
    }
    if (m_options.protocol == "mqtt") {
        record.qos = message.qos;
        record.retain = message.retain;
        record.properties_json = message.properties_json;
    }
    if (m_options.record_opcode) {
        record.extra_json = record.binary ? R"("opcode":"binary")" : R"("opcode":"text")";
    }
    if (record.binary && m_sink.format() == output::Format::text &&
        m_options.binary_display != BinaryDisplay::as_is) {
        m_scratch.clear();
        if (m_options.binary_display == BinaryDisplay::base64) {
            core::append_base64(m_scratch, message.payload);
        } else {
            core::append_hex(m_scratch, message.payload);
        }
        record.payload = m_scratch;
        record.binary = false;
    }
    m_sink.write(record);
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
    m_parts->deadline.stop();
    m_parts->idle.stop();
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
    transport::Message message{payload};
    switch (m_options.input_encoding) {
    case InputEncoding::text:
        break;
    case InputEncoding::binary:
        message.kind = transport::PayloadKind::binary;
        break;
    case InputEncoding::base64:
    case InputEncoding::hex: {
        const bool base64 = m_options.input_encoding == InputEncoding::base64;
        auto decoded = base64 ? core::decode_base64(payload) : core::decode_hex(payload);
        if (!decoded) {
            stop(ExitCode::failure, fmt::format("stdin: message {} is not valid {}",
                                                m_input_messages, base64 ? "base64" : "hex"));
            return;
        }
        m_scratch = std::move(*decoded);
        message = transport::Message{m_scratch, transport::PayloadKind::binary};
        break;
    }
    }
    m_connection->send(message);
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
    if (m_options.half_close) {
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
