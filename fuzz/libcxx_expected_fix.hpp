#pragma once
// Force-included into every fuzz source. libc++ before 18 places std::expected's has-value flag
// in the tail padding of the value ([[no_unique_address]] on its union), and constructing the
// value then overwrites the flag: Result<HostPort> came back "failed" with a null category (the
// fuzzer found it at once). Dropping the attribute for the whole fuzz build, which is compiled
// from source with these same headers, gives every type its plain layout.
#include <cstddef>  // brings in <__config>, which defines the macro
#if defined(_LIBCPP_VERSION) && _LIBCPP_VERSION < 180000
#undef _LIBCPP_NO_UNIQUE_ADDRESS
#define _LIBCPP_NO_UNIQUE_ADDRESS
#endif
