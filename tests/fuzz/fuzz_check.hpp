#pragma once
// What every fuzz target asserts with: a property that does not hold stops the run at once,
// as a crash libFuzzer reports and saves the input of (assert() is compiled out in release).

namespace rtx::fuzz {

inline void check(bool condition) {
    if (!condition) {
        __builtin_trap();
    }
}

} // namespace rtx::fuzz
