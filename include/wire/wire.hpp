#pragma once
/// @file
/// The whole of libwire in one include.
#include "wire/endpoint.hpp"
#include "wire/datagram.hpp"
#include "wire/error.hpp"
#include "wire/framing.hpp"
#include "wire/socket.hpp"
#include "wire/stream.hpp"
#include "wire/tcp.hpp"
#include "wire/udp.hpp"
#include "wire/unix.hpp"
#include "wire/version.hpp"
