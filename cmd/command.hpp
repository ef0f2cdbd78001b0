#pragma once

#include "core/exit_code.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <span>
#include <string_view>

namespace rtx::cmd {

/// What a subcommand's setup returns: the function main calls after parsing succeeded.
using Runner = std::function<core::ExitCode()>;

/// One row of the subcommand table: `rtx <name>`.
struct Command {
    std::string_view name;
    std::string_view summary; ///< One line for `rtx --help`.
    /// Adds the subcommand (options struct, flags, examples) under `parent`; the returned
    /// Runner runs it with the parsed options.
    Runner (*setup)(CLI::App& parent, std::string_view name, std::string_view summary);
};

/// Every subcommand, in the order `rtx --help` lists them.
std::span<const Command> commands();

Runner setup_tcp(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_stream(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_poll(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_sse(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_mqtt(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_ws(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_webrtc(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_bench(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_push(CLI::App& parent, std::string_view name, std::string_view summary);
Runner setup_serve(CLI::App& parent, std::string_view name, std::string_view summary);

/// Prints a completion script for `shell` (bash, zsh, fish) generated from the CLI tree.
/// Returns false for an unknown shell.
bool print_completions(const CLI::App& app, std::string_view shell);

} // namespace rtx::cmd
