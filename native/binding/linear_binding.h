// The linear-attention part of the Node-API binding (native/binding/linear.cpp).
#pragma once

#include <napi.h>

// Adds linearAttentionSync(args) and linearAttention(args) → Promise<void> (CPU), and
// linearAttentionCudaSync / linearAttentionCuda (the same arguments, host arrays, run on the
// current CUDA device through staged copies) to `exports`.
void registerLinear(Napi::Env env, Napi::Object exports);
