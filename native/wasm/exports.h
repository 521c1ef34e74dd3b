// Functions the WebAssembly module exports to lib/wasm/ (C linkage, exported by name).
#pragma once

#define ATTNFLOW_EXPORT(name) extern "C" __attribute__((export_name(#name), visibility("default")))
