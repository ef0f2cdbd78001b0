// The doctest runner for rtx_tests; the test cases live in the <module>_test.cpp files.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
