#pragma once
/// @file
/// The whole of libwire in one include.
#include "wire/endpoint.hpp"
#include "wire/error.hpp"
#include "wire/framing.hpp"
#include "wire/socket.hpp"
#include "wire/tcp.hpp"
#include "wire/tls.hpp"
#include "wire/udp.hpp"
#include "wire/version.hpp"
