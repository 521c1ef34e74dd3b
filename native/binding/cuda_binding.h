// The CUDA part of the Node-API binding (cuda.cpp): device buffers, copies, device masks and
// attention on device tensors. Init in addon.cpp calls registerCuda once.
#pragma once

#include <napi.h>

void registerCuda(Napi::Env env, Napi::Object exports);
// cudaLinearAttention / cudaLinearAttentionSync (cuda_linear.cpp); called by registerCuda.
void registerCudaLinear(Napi::Env env, Napi::Object exports);
