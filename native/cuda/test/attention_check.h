// The attention kernels on the emulated GPU: one problem (Case) generated, run through the same
// path as cudaAttentionForward (resolve, RoPE pre-pass, kernel choice, split-KV) and checked
// against a float64 reference with the SPEC's bars (attention_check.cpp); the list of problems is
// in attention_cases.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "attnflow.h"

namespace emutest {

using attnflow::DType;
using attnflow::RopeParams;

using Allow = std::function<bool(int h, int64_t p, int64_t j)>;

struct Case {
  std::string name;
  int B = 1, Hq = 2, Hkv = 2, Sq = 64, Sk = 64, D = 64;
  DType dtype = DType::F16;
  bool bshd = false;
  bool perHead = false;
  Allow allow = [](int, int64_t, int64_t) { return true; };
  float scale = 0.f;  // 0: 1/sqrt(D)
  float softcap = 0.f;
  bool alibi = false;
  RopeParams rope;
  int forced = 0;  // 0 auto, 1 fa2, 2 general
  int sms = 132;   // multiprocessors the split heuristic assumes
  // Non-finite injection: elements of q / k / v set (as stored in the dtype) after generation.
  struct Poke {
    char t;  // 'q', 'k' or 'v'
    int b, h, s, d;
    float value;
  };
  std::vector<Poke> pokes;
  bool colOnes = false;  // k[..][..][..][0] = 1 for every key (with q[..][0] = -inf: all scores -inf)
  // Explicit positions (see AttentionParams): query i at queryPos[i] (empty: queryStart + i, or
  // bottom-right), key j of kv head hk at keyPos[hk * Sk + j] (or keyPos[j] when it holds Sk
  // entries; negative: an empty slot); the mask and the reference use them.
  std::vector<int32_t> queryPos, keyPos;
  int64_t queryStart = attnflow::kBottomRight;
  bool maskPerKvHead = false;  // mask rows per kv head (BlockMask.heads = Hkv)
  bool keyMass = false;
  int64_t qpos(int i) const {
    if (!queryPos.empty()) return queryPos[i];
    return (queryStart == attnflow::kBottomRight ? static_cast<int64_t>(Sk) - Sq : queryStart) + i;
  }
  int64_t kpos(int hk, int j) const {
    if (keyPos.empty()) return j;
    return keyPos.size() == static_cast<size_t>(Sk) ? keyPos[j] : keyPos[static_cast<size_t>(hk) * Sk + j];
  }
  // whether query i of head h may read key j (the pattern on the true positions)
  bool allowed(int h, int i, int j) const {
    const int hk = h / (Hq / Hkv);
    const int64_t kp = kpos(hk, j);
    return kp >= 0 && allow(perHead ? h : 0, qpos(i), kp);
  }
};

inline bool causal(int, int64_t p, int64_t j) { return j <= p; }

// Runs one case and prints its line; false when it fails.
bool runAttentionCase(const Case& c, unsigned seed);

// Every attention case (twice for the tensor-core kernel: cp.async immediate and deferred);
// returns the number of failures, *runs the number of runs. Cases whose name lacks `filter`
// (when not null) are skipped.
int runAttentionCases(bool quick, const char* filter, int* runs);

}  // namespace emutest
