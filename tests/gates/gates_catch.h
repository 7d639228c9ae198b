// Catch2 for the gates tests, included so that Catch's CHECK wins: c10's logging header (pulled
// in by ATen) defines a glog-style CHECK(cond) that aborts the process and takes one argument.
#pragma once

#include <ATen/ATen.h>

#ifdef CHECK
#undef CHECK
#endif
#include "catch.h"
