// The linear-attention part of the Node-API binding (native/binding/linear.cpp).
#pragma once

#include <napi.h>

// Adds linearAttentionSync(args) and linearAttention(args) → Promise<void> (CPU, host arrays) to
// `exports`. The CUDA entry points (device memory) are registered with the rest of the CUDA
// binding (cuda_linear.cpp).
void registerLinear(Napi::Env env, Napi::Object exports);
