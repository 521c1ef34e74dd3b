// The list of attention cases of the CUDA emulator test: the tensor-core kernel (prefill, GQA,
// per-head masks, ALiBi, softcap, RoPE, empty rows and patterns, forced onto decode), the general
// kernel (float32, decode with split-KV and packed heads, vector and scalar K/V staging, odd head
// dims, bshd), explicit query and key positions (RoPE and ALiBi on true positions, empty key
// slots, masks per kv head, top-left alignment) with key masses, and non-finite inputs on both.
#include <algorithm>
#include <cmath>
#include <random>
#include <cstdio>
#include <utility>

#include "attention_check.h"
#include "emu.h"

namespace emutest {

int runAttentionCases(bool quick, const char* filter, int* runs) {
  std::vector<Case> cases;
  auto add = [&](Case c) { cases.push_back(std::move(c)); };
  {
    Case c;
    c.name = "fa2 f16 d64 causal GQA 2:1, partial last tiles (130x150)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 130, c.Sk = 150, c.D = 64, c.dtype = DType::F16, c.allow = causal;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 bf16 d128 per-head (sliding / random) + ALiBi + softcap";
    c.Hq = 2, c.Hkv = 2, c.Sq = 70, c.Sk = 200, c.D = 128, c.dtype = DType::BF16, c.perHead = true;
    c.allow = [](int h, int64_t p, int64_t j) {
      if (h == 0) return j <= p && j > p - 33;
      return ((p * 7919 + j * 104729) % 5) < 2;  // a scattered pattern
    };
    c.alibi = true, c.softcap = 8.f;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 f16 d64 bshd, seqQ > seqK (empty rows), RoPE half";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 70, c.D = 64, c.dtype = DType::F16, c.bshd = true, c.allow = causal;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 10000.f;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 forced onto decode: bf16 d128 seqQ 1";
    c.Hq = 4, c.Hkv = 1, c.Sq = 1, c.Sk = 130, c.D = 128, c.dtype = DType::BF16, c.allow = causal, c.forced = 1;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 f16 d64 empty pattern";
    c.Hq = 1, c.Hkv = 1, c.Sq = 64, c.Sk = 64, c.D = 64, c.dtype = DType::F16;
    c.allow = [](int, int64_t, int64_t) { return false; };
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d40 causal (70x130)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 70, c.Sk = 130, c.D = 40, c.dtype = DType::F32, c.allow = causal, c.sms = 1000;
    add(c);
  }
  {
    Case c;
    c.name = "general f16 d64 decode seqQ 3, GQA 8:2 packed, split-KV";
    c.B = 1, c.Hq = 8, c.Hkv = 2, c.Sq = 3, c.Sk = 300, c.D = 64, c.dtype = DType::F16, c.sms = 4;
    c.allow = [](int, int64_t p, int64_t j) { return j <= p && (j > p - 200 || j < 2); };
    add(c);
  }
  {
    Case c;
    c.name = "general bf16 d80 decode seqQ 1, RoPE interleaved + offset, split";
    c.B = 2, c.Hq = 2, c.Hkv = 2, c.Sq = 1, c.Sk = 200, c.D = 80, c.dtype = DType::BF16, c.sms = 2, c.allow = causal;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 500.f, c.rope.interleaved = true, c.rope.offset = 7;
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d128 per-head decode (no packing), ALiBi, softcap";
    c.B = 1, c.Hq = 4, c.Hkv = 2, c.Sq = 2, c.Sk = 150, c.D = 128, c.dtype = DType::F32, c.sms = 3, c.perHead = true;
    c.allow = [](int h, int64_t p, int64_t j) { return j <= p && (h % 2 == 0 || j % 3 == 0); };
    c.alibi = true, c.softcap = 5.f;
    add(c);
  }
  {
    Case c;
    c.name = "general forced: f16 d64 prefill with empty rows (100x40)";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 40, c.D = 64, c.dtype = DType::F16, c.allow = causal, c.forced = 2;
    c.sms = 1000;
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d256 bshd full";
    c.Hq = 1, c.Hkv = 1, c.Sq = 20, c.Sk = 33, c.D = 256, c.dtype = DType::F32, c.bshd = true, c.sms = 1000;
    add(c);
  }
  // Decode on the general kernel: K/V staged in 16-byte pieces (D * size a multiple of 16) or
  // element by element (D = 36 or 20 in 16 bits: 72- or 40-byte rows), and items with fewer rows than warps
  // (4 packed heads x 1 query: warps 4..7 have no row and only help staging).
  {
    Case c;
    c.name = "general bf16 d128 decode seqQ 1, GQA 4:1 packed (4 rows), split-KV";
    c.B = 1, c.Hq = 4, c.Hkv = 1, c.Sq = 1, c.Sk = 333, c.D = 128, c.dtype = DType::BF16, c.sms = 3, c.allow = causal;
    add(c);
  }
  {
    Case c;
    c.name = "general f16 d36 decode seqQ 2, GQA 2:1 packed, scalar K/V staging";
    c.B = 2, c.Hq = 2, c.Hkv = 1, c.Sq = 2, c.Sk = 140, c.D = 36, c.dtype = DType::F16, c.sms = 4;
    c.allow = [](int, int64_t p, int64_t j) { return j <= p && j > p - 100; };
    c.alibi = true;
    add(c);
  }
  {
    Case c;
    c.name = "general bf16 d20 bshd decode seqQ 1, 5 rows per item, scalar K/V staging";
    c.B = 1, c.Hq = 5, c.Hkv = 1, c.Sq = 1, c.Sk = 90, c.D = 20, c.dtype = DType::BF16, c.bshd = true, c.sms = 1000;
    c.allow = causal;
    add(c);
  }
  // Explicit positions (a KV cache after eviction: keys at scattered positions, empty slots), top-left
  // alignment, and key masses.
  auto scattered = [](int Hkv, int Sk, int span, int empties, bool perHead, unsigned seed) {
    std::mt19937 g(seed);
    std::vector<int32_t> out;
    for (int h = 0; h < (perHead ? Hkv : 1); ++h) {
      std::vector<int32_t> all(span);
      for (int i = 0; i < span; ++i) all[i] = i;
      std::shuffle(all.begin(), all.end(), g);
      std::vector<int32_t> keep(all.begin(), all.begin() + (Sk - empties));
      for (int e = 0; e < empties; ++e) keep.push_back(-1);
      std::shuffle(keep.begin(), keep.end(), g);
      out.insert(out.end(), keep.begin(), keep.end());
    }
    return out;
  };
  {
    Case c;
    c.name = "positions general f32 d64 decode GQA 8:2 per-kv-head keys, keyMass, split";
    c.B = 2, c.Hq = 8, c.Hkv = 2, c.Sq = 1, c.Sk = 300, c.D = 64, c.dtype = DType::F32, c.sms = 3, c.allow = causal;
    c.keyPos = scattered(c.Hkv, c.Sk, 1000, 9, true, 7);
    c.queryStart = 1000;  // the newest position
    c.maskPerKvHead = true, c.keyMass = true, c.alibi = true;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 10000.f;
    add(c);
  }
  {
    Case c;
    c.name = "positions general f16 d64 prefill 100x200, sliding on true positions, keyMass";
    c.B = 1, c.Hq = 2, c.Hkv = 1, c.Sq = 100, c.Sk = 200, c.D = 64, c.dtype = DType::F16, c.sms = 1000;
    c.allow = [](int, int64_t p, int64_t j) { return j <= p && j > p - 150; };
    c.keyPos = scattered(1, c.Sk, 400, 5, false, 8);
    c.queryPos.resize(c.Sq);
    for (int i = 0; i < c.Sq; ++i) c.queryPos[i] = 300 + i;
    c.keyMass = true;
    add(c);
  }
  {
    Case c;
    c.name = "positions general bf16 d128 shared keys, ALiBi, keyMass";
    c.B = 1, c.Hq = 4, c.Hkv = 2, c.Sq = 5, c.Sk = 130, c.D = 128, c.dtype = DType::BF16, c.sms = 1000, c.allow = causal;
    c.keyPos = scattered(c.Hkv, c.Sk, 500, 0, false, 9);
    c.queryStart = 495;
    c.alibi = true, c.keyMass = true;
    add(c);
  }
  {
    Case c;
    c.name = "general f32 d32 keyMass plain (GQA 4:1 packed decode, split)";
    c.B = 1, c.Hq = 4, c.Hkv = 1, c.Sq = 2, c.Sk = 500, c.D = 32, c.dtype = DType::F32, c.sms = 2, c.allow = causal;
    c.keyMass = true;
    add(c);
  }
  {
    Case c;
    c.name = "fa2 f16 d64 top-left causal (70x150)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 70, c.Sk = 150, c.D = 64, c.dtype = DType::F16, c.allow = causal;
    c.queryStart = 0;
    c.rope.enabled = true, c.rope.dims = 64, c.rope.base = 10000.f;
    add(c);
  }
  // Non-finite inputs (NaN / +inf / -inf in q, k, v at attended and masked positions, in partial
  // tiles, the sequence tail, split-KV), against the IEEE semantics of the reference.
  const float kNaN = NAN, kInf = INFINITY;
  {
    Case c;
    c.name = "nonfinite fa2 f16 d64 causal GQA 4:2 (130x150)";
    c.Hq = 4, c.Hkv = 2, c.Sq = 130, c.Sk = 150, c.D = 64, c.dtype = DType::F16, c.allow = causal;
    c.colOnes = true;  // with q[h3][3][0] = -inf: row 3 of head 3 has only -inf scores (empty row)
    c.pokes = {{'v', 0, 0, 100, 3, kNaN},   // masked for rows 0..79 (partial tiles), reaches rows 80..
               {'v', 0, 0, 149, 5, kInf},   // the tail tile: only row 129 attends key 149
               {'v', 0, 0, 70, 7, -kInf},   //
               {'q', 0, 0, 50, 4, kInf},    // scores +-inf: a NaN row
               {'k', 0, 1, 110, 0, kNaN},   // rows at position >= 110 of heads 2, 3: NaN
               {'k', 0, 1, 30, 1, kInf},    // +inf or -inf scores depending on the sign of q
               {'q', 0, 2, 5, 2, kNaN},     // a NaN row
               {'q', 0, 3, 3, 0, -kInf},    // all scores -inf: empty row
               {'v', 0, 1, 10, 0, kNaN}};   // attended by every row of heads 2, 3 (not the empty one)
    add(c);
  }
  auto sliding = [](int, int64_t p, int64_t j) { return j <= p && j > p - 40; };
  {
    Case c;
    c.name = "nonfinite fa2 bf16 d128 sliding window 40 (100x100)";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 100, c.D = 128, c.dtype = DType::BF16, c.allow = sliding;
    c.pokes = {{'v', 0, 0, 70, 9, kNaN}, {'v', 0, 0, 20, 1, kInf}, {'v', 0, 0, 63, 100, -kInf},
               {'k', 0, 1, 50, 3, kNaN}, {'q', 0, 1, 10, 0, kNaN},  {'q', 0, 0, 90, 2, -kInf}};
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general f16 d64 sliding window 40 forced (100x100)";
    c.Hq = 2, c.Hkv = 2, c.Sq = 100, c.Sk = 100, c.D = 64, c.dtype = DType::F16, c.allow = sliding, c.forced = 2;
    c.sms = 1000;
    c.pokes = {{'v', 0, 0, 70, 9, kNaN}, {'v', 0, 0, 20, 1, kInf}, {'v', 0, 0, 63, 60, -kInf},
               {'k', 0, 1, 50, 3, kNaN}, {'q', 0, 1, 10, 0, kNaN},  {'q', 0, 0, 90, 2, -kInf}};
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general f32 d40 causal (70x130)";
    c.Hq = 2, c.Hkv = 1, c.Sq = 70, c.Sk = 130, c.D = 40, c.dtype = DType::F32, c.allow = causal, c.sms = 1000;
    c.colOnes = true;
    c.pokes = {{'v', 0, 0, 100, 3, kNaN}, {'v', 0, 0, 129, 5, kInf}, {'k', 0, 0, 120, 2, kNaN},
               {'q', 0, 1, 7, 1, kNaN},   {'q', 0, 1, 9, 0, -kInf},  {'q', 0, 0, 20, 6, kInf}};
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general bf16 d64 decode seqQ 2, GQA 4:2, split-KV";
    c.B = 1, c.Hq = 4, c.Hkv = 2, c.Sq = 2, c.Sk = 300, c.D = 64, c.dtype = DType::BF16, c.sms = 2;
    c.allow = [](int, int64_t p, int64_t j) { return j <= p && (j > p - 200 || j < 2); };
    c.colOnes = true;
    c.pokes = {{'q', 0, 0, 0, 5, kNaN},     // NaN in every split (splits with m = -inf, l = NaN)
               {'v', 0, 0, 50, 2, kNaN},    // masked for every row
               {'v', 0, 0, 1, 4, kNaN},     // attended by every row of heads 0, 1
               {'q', 0, 1, 1, 0, -kInf},    // empty row (all splits l = 0) despite the NaN above
               {'v', 0, 1, 1, 3, kInf},     // attended: inf column for heads 2, 3
               {'k', 0, 1, 299, 7, kNaN}};  // only row 1 attends key 299
    add(c);
  }
  {
    Case c;
    c.name = "nonfinite general f32 d64 decode seqQ 1, split-KV";
    c.B = 1, c.Hq = 2, c.Hkv = 1, c.Sq = 1, c.Sk = 260, c.D = 64, c.dtype = DType::F32, c.sms = 2;
    c.allow = [](int, int64_t p, int64_t j) { return j > p - 100; };  // keys 0..159 masked (128..159: a partial tile)
    c.pokes = {{'v', 0, 0, 150, 0, kNaN}, {'k', 0, 0, 140, 0, kNaN}, {'v', 0, 0, 200, 1, -kInf},
               {'q', 0, 1, 0, 2, kInf}};
    add(c);
  }
  if (filter != nullptr) {
    std::vector<Case> kept;
    for (Case& c : cases)
      if (c.name.find(filter) != std::string::npos) kept.push_back(std::move(c));
    cases = std::move(kept);
  }
  int failures = 0, n = 0;
  for (int mode = 0; mode < 2; ++mode) {
    emu::gDeferred = mode == 1;
    std::printf("-- cp.async %s\n", emu::gDeferred ? "deferred to wait_group" : "immediate");
    for (const Case& c : cases) {
      if (mode == 1 && (!c.name.starts_with("fa2") || (quick && n > 2))) continue;  // cp.async only matters to fa2
      if (!runAttentionCase(c, 1234 + n++)) ++failures;
    }
  }
  *runs = n;
  return failures;
}

}  // namespace emutest
