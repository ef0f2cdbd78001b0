#include "client/message_io.hpp"

#include "core/encoding.hpp"

#include <chrono>

namespace rtx::client {

std::optional<output::Record> received_record(const PipeOptions& options, output::Format format,
                                              std::uint64_t connection,
                                              const transport::Message& message,
                                              std::string& scratch) {
    output::Record record;
    record.time = std::chrono::system_clock::now();
    record.protocol = options.protocol;
    record.connection = connection;
    record.topic = message.topic;
    record.id = message.id;
    record.payload = message.payload;
    record.binary = message.kind == transport::PayloadKind::binary;
    if (!message.topic.empty() && options.protocol == "sse") {
        record.event = message.topic;
    }
    if (!options.filter.accepts(record)) {
        return std::nullopt;
    }
    if (options.protocol == "mqtt") {
        record.qos = message.qos;
        record.retain = message.retain;
        record.properties_json = message.properties_json;
    }
    if (options.record_opcode) {
        record.extra_json = record.binary ? R"("opcode":"binary")" : R"("opcode":"text")";
    }
    if (record.binary && format == output::Format::text &&
        options.binary_display != BinaryDisplay::as_is) {
        scratch.clear();
        if (options.binary_display == BinaryDisplay::base64) {
            core::append_base64(scratch, message.payload);
        } else {
            core::append_hex(scratch, message.payload);
        }
        record.payload = scratch;
        record.binary = false;
    }
    return record;
}

core::Result<transport::Message> input_message(const PipeOptions& options, std::string_view payload,
                                               std::string& scratch) {
    switch (options.input_encoding) {
    case InputEncoding::text:
        break;
    case InputEncoding::binary:
        return transport::Message{payload, transport::PayloadKind::binary};
    case InputEncoding::base64:
    case InputEncoding::hex: {
        const bool base64 = options.input_encoding == InputEncoding::base64;
        auto decoded = base64 ? core::decode_base64(payload) : core::decode_hex(payload);
        if (!decoded) {
            return core::Error{core::ExitCode::failure, base64 ? "base64" : "hex"};
        }
        scratch = std::move(*decoded);
        return transport::Message{scratch, transport::PayloadKind::binary};
    }
    }
    return transport::Message{payload};
}

} // namespace rtx::client
