// The attention kernel of the WebAssembly build: kernel_body.h on the SIMD128 primitives of
// native/cpu/simd_wasm.h, compiled by scripts/build-wasm.sh only.
#include "kernel.h"
#include "simd_wasm.h"

namespace attnflow {
namespace cpu {
namespace wasm {

#include "kernel_body.h"

}  // namespace wasm
}  // namespace cpu
}  // namespace attnflow
