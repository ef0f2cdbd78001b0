#pragma once

#include "client/pipe_session.hpp"
#include "core/error.hpp"
#include "output/record.hpp"
#include "output/sink.hpp"
#include "transport/connection.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtx::client {

/// The record of a received message as `options` print it (opcode for WebSocket, binary
/// payloads as base64 or hex in text output, converted into `scratch`); nullopt when the
/// options' filter leaves it out. The record's views borrow `message` and `scratch`.
std::optional<output::Record> received_record(const PipeOptions& options, output::Format format,
                                              std::uint64_t connection,
                                              const transport::Message& message,
                                              std::string& scratch);

/// A stdin message as it is sent: text, binary, or decoded from base64 or hex into
/// `scratch` (options.input_encoding). The error names the encoding the input is not.
core::Result<transport::Message> input_message(const PipeOptions& options, std::string_view payload,
                                               std::string& scratch);

} // namespace rtx::client
