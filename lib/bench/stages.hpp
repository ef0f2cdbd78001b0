#pragma once

#include "core/duration.hpp"
#include "core/error.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace rtx::bench {

/// One stage of a load profile, as k6 writes them ("30s:1000"): over `duration`, the
/// target goes in a straight line from where the previous stage left it to `target`.
struct Stage {
    core::Duration duration{0};
    double target = 0;
    bool operator==(const Stage&) const = default;
};

/// A load profile (`--stages` for connections, `--rate-stages` for the open model's rate),
/// starting from 0. Pure; read-only once made.
class Stages {
public:
    Stages() = default;
    /// Parses "30s:1000,2m:1000,30s:0" (durations as --duration takes them, targets >= 0;
    /// `whole` requires whole numbers). ExitCode::usage with a one-line reason naming `flag`.
    static core::Result<Stages> parse(std::string_view text, std::string_view flag, bool whole);

    bool empty() const { return m_stages.empty(); }
    const std::vector<Stage>& stages() const { return m_stages; }
    /// The sum of the stages' durations.
    core::Duration total() const;
    /// The highest target.
    double peak() const;
    /// The target `elapsed` after the start (the last target after the end).
    double value_at(core::Duration elapsed) const;
    /// The stage running `elapsed` after the start, from 1; the last one after the end; 0
    /// when there are none.
    std::size_t index_at(core::Duration elapsed) const;

private:
    std::vector<Stage> m_stages;
};

} // namespace rtx::bench
