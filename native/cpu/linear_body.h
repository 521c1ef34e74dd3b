// The chunked linear-attention scan for one (batch, query head), written once against the vector
// primitives of an instruction set (simd_<isa>.h, listed in simd_portable.h: V holds kLanes
// floats) and compiled once per instruction set by linear_<isa>.cpp, inside the ISA's namespace.
// Everything here has internal linkage except the kernel's entry (kLinearKernel).
//
// Per chunk of L ≤ C steps, with S₀, z₀ the state before it (see lib/linear/reference.ts):
//   A[t,s] = Σ_f φq_t[f] φk_s[f] P_{t,s}[f]  (s ≤ t)           P_{t,s} = γ_{s+1}⋯γ_t
//   y_t    = (φq_t ⊙ G_t)ᵀ S₀ + Σ_s A[t,s] v_s,  den_t = (φq_t ⊙ G_t)ᵀ z₀ + Σ_s A[t,s]
//   S      ← diag(G_{L−1}) S₀ + Σ_s (φk_s ⊙ P_{L−1,s}) v_sᵀ  (z likewise, with 1 for v)
// The three products (QKᵀ, [Q⊙G | A]·[S₀ ; V], Kᵀ V) run through one register-blocked GEMM.
// P is built by products row by row (never by dividing prefix products), so tiny gates
// underflow to zero instead of overflowing. Row strides of the scratch buffers (Dkp, Fp, Vp, Cp)
// are multiples of kLanes (the plan was made for this kernel's lanes).

namespace {

#include "prefetch_steps.h"

using linear::LinPlan;
using linear::LinScratch;

// Sum of the lanes of v, in lane order.
static inline float laneSum(V v) {
  float t[kLanes];
  vstore(t, v);
  float s = 0.f;
  for (int l = 0; l < kLanes; ++l) s += t[l];
  return s;
}

static inline int roundLanes(int n) { return (n + kLanes - 1) / kLanes * kLanes; }

// --- GEMM: C[M×N] (+)= A[M×K]·B[K×N], row-major, N a multiple of kLanes ---------------------
// kTriN: row block [i0, i0+r) only needs columns < roundLanes(i0 + r) (the lower triangle of QKᵀ).
// kTriK: row block [i0, i0+r) only needs k < i0 + r (A is zero above its diagonal).
enum Tri { kFull = 0, kTriN = 1, kTriK = 2 };

template <int R, int NV>
static inline void gemmBlock(int K, const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb,
                             float* __restrict c, int64_t ldc, bool acc) {
  V r[R][NV];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) r[i][j] = acc ? vload(c + i * ldc + kLanes * j) : vzero();
  for (int k = 0; k < K; ++k) {
    V bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = vload(b + k * ldb + kLanes * j);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const V av = vset1(a[i * lda + k]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) r[i][j] = vfma(av, bv[j], r[i][j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) vstore(c + i * ldc + kLanes * j, r[i][j]);
}

// The last `rest` (< kGemmNV) vectors of columns as one block: the triangle of QKᵀ ends rows at
// 1, 2, 3 vectors, and one wider block reads A once where narrow blocks would read it per vector.
template <int R, int NV>
static inline void gemmTail(int rest, int K, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                            int64_t ldc, bool acc) {
  if constexpr (NV >= 1) {
    if (rest == NV) {
      gemmBlock<R, NV>(K, a, lda, b, ldb, c, ldc, acc);
      return;
    }
    gemmTail<R, NV - 1>(rest, K, a, lda, b, ldb, c, ldc, acc);
  }
}

template <int R>
static inline void gemmRows(int N, int K, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                            bool acc) {
  int j = 0;
  for (; j + kGemmNV * kLanes <= N; j += kGemmNV * kLanes) gemmBlock<R, kGemmNV>(K, a, lda, b + j, ldb, c + j, ldc, acc);
  if (j < N) gemmTail<R, kGemmNV - 1>((N - j) / kLanes, K, a, lda, b + j, ldb, c + j, ldc, acc);
}

// gemmRows<rows> for 1 <= rows <= R.
template <int R>
static inline void gemmRowsUpTo(int rows, int N, int K, const float* a, int64_t lda, const float* b, int64_t ldb,
                                float* c, int64_t ldc, bool acc) {
  if constexpr (R >= 1) {
    if (rows == R) {
      gemmRows<R>(N, K, a, lda, b, ldb, c, ldc, acc);
      return;
    }
    gemmRowsUpTo<R - 1>(rows, N, K, a, lda, b, ldb, c, ldc, acc);
  }
}

static void gemm(int M, int N, int K, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                 bool acc, Tri tri, PrefetchSteps* pf = nullptr) {
  constexpr int R = kGemmR;
  for (int i0 = 0; i0 < M; i0 += R) {
    const int r = M - i0 < R ? M - i0 : R;
    int n = N, k = K;
    if (tri == kTriN) n = roundLanes(i0 + r) < N ? roundLanes(i0 + r) : N;
    if (tri == kTriK) k = i0 + r < K ? i0 + r : K;
    const float* ai = a + i0 * lda;
    float* ci = c + i0 * ldc;
    gemmRowsUpTo<R>(r, n, k, ai, lda, b, ldb, ci, ldc, acc);
    if (pf) prefetchStep(*pf);
  }
}

// --- input / output rows ------------------------------------------------------------------------

// Converts n elements at src (element stride sd) into dst[0, n) and zeroes dst[n, np).
static inline void loadRow(const void* base, DType dt, int64_t off, int64_t sd, int n, int np, float* dst) {
  if (dt == DType::F32) {
    const float* s = static_cast<const float*>(base) + off;
    if (sd == 1) {
      int i = 0;
      for (; i + kLanes <= n; i += kLanes) vstore(dst + i, vload(s + i));
      for (; i < n; ++i) dst[i] = s[i];
    } else {
      for (int i = 0; i < n; ++i) dst[i] = s[i * sd];
    }
  } else {
    const uint16_t* s = static_cast<const uint16_t*>(base) + off;
    if (dt == DType::F16) {
      for (int i = 0; i < n; ++i) dst[i] = halfToFloat(s[i * sd]);
    } else {
      for (int i = 0; i < n; ++i) dst[i] = bf16ToFloat(s[i * sd]);
    }
  }
  for (int i = n; i < np; ++i) dst[i] = 0.f;
}

static inline void storeRow(void* base, DType dt, int64_t off, int64_t sd, int n, const float* src) {
  if (dt == DType::F32) {
    float* d = static_cast<float*>(base) + off;
    if (sd == 1) {
      std::memcpy(d, src, sizeof(float) * static_cast<size_t>(n));
    } else {
      for (int i = 0; i < n; ++i) d[i * sd] = src[i];
    }
  } else {
    uint16_t* d = static_cast<uint16_t*>(base) + off;
    if (dt == DType::F16) {
      for (int i = 0; i < n; ++i) d[i * sd] = floatToHalf(src[i]);
    } else {
      for (int i = 0; i < n; ++i) d[i * sd] = floatToBf16(src[i]);
    }
  }
}

// Requests the next chunk's rows (the `rows` rows of n elements from element offset off, row stride
// ss, of each of q, k and v) spread over this chunk's GEMM row blocks (`steps` of them).
static PrefetchSteps nextChunkPrefetch(const LinPlan& p, int64_t qOff, int64_t kOff, int64_t vOff, int rows,
                                       int steps) {
  PrefetchSteps f;
  const int64_t esize = p.dtype == DType::F32 ? 4 : 2;
  const auto add = [&](const auto& op, int64_t off, int n) {
    if (op.sd == 1)
      addPrefetchRun(f, static_cast<const char*>(op.data) + off * esize, 0, op.ss * esize, rows, rows, n * esize);
  };
  add(p.q, qOff, p.Dk);
  add(p.k, kOff, p.Dk);
  add(p.v, vOff, p.Dv);
  spreadPrefetches(f, steps);
  return f;
}

// kT [Df][Cp] = the transpose of φ(k) [L][Fp] (columns from L on zero): whole kLanes x kLanes
// blocks through vtranspose, the ragged end element by element.
static void transposeKf(const float* kf, int Fp, int L, int Df, float* kT, int Cp) {
  const int L0 = L - L % kLanes;
  const int F0 = Df - Df % kLanes;
  for (int t = 0; t < L0; t += kLanes)
    for (int f = 0; f < F0; f += kLanes) vtranspose(kf + t * Fp + f, Fp, kT + f * Cp + t, Cp);
  for (int f = 0; f < Df; ++f) {
    float* row = kT + f * Cp;
    for (int t = f < F0 ? L0 : 0; t < L; ++t) row[t] = kf[t * Fp + f];
    for (int t = L; t < Cp; ++t) row[t] = 0.f;
  }
}

// φ of L rows: x [L][Dkp] → f [L][Fp] (zero beyond Df).
static void featureRows(const LinPlan& p, const LinScratch& s, int L, float* f) {
  const int Fp = p.Fp, Dkp = p.Dkp, Df = p.Df;
  switch (p.featureMap) {
    case LinearFeatureMap::Identity:
      for (int t = 0; t < L; ++t) std::memcpy(f + t * Fp, s.x + t * Dkp, sizeof(float) * static_cast<size_t>(Fp));
      return;
    case LinearFeatureMap::Relu:
      for (int t = 0; t < L; ++t)
        for (int i = 0; i < Fp; i += kLanes) {
          const V x = vload(s.x + t * Dkp + i);
          vstore(f + t * Fp + i, vwherePos(x, x, vzero()));
        }
      return;
    case LinearFeatureMap::Elu1:
      for (int t = 0; t < L; ++t) {
        for (int i = 0; i < Fp; i += kLanes) {
          const V x = vload(s.x + t * Dkp + i);
          vstore(f + t * Fp + i, vwherePos(x, vadd(x, vset1(1.f)), vexp(x)));
        }
        for (int i = Df; i < Fp; ++i) f[t * Fp + i] = 0.f;  // elu1(0) = 1 in the padding
      }
      return;
    case LinearFeatureMap::Favor: {
      // f = exp(c·(W x) − c²|x|²/2) / √m
      gemm(L, Fp, p.Dk, s.x, Dkp, p.favorWT, Fp, f, Fp, false, kFull);
      const float c = p.favorScale, c2h = 0.5f * c * c;
      for (int t = 0; t < L; ++t) {
        float sq = 0.f;
        for (int i = 0; i < p.Dk; ++i) sq += s.x[t * Dkp + i] * s.x[t * Dkp + i];
        const V sub = vset1(c2h * sq), cv = vset1(c), norm = vset1(p.favorNorm);
        for (int i = 0; i < Fp; i += kLanes) vstore(f + t * Fp + i, vmul(vexp(vsub(vmul(vload(f + t * Fp + i), cv), sub)), norm));
        for (int i = Df; i < Fp; ++i) f[t * Fp + i] = 0.f;
      }
      return;
    }
  }
}

static inline float gateAt(const LinPlan& p, int32_t b, int32_t h, int64_t n, int32_t f) {
  return p.gates[b * p.gs[0] + h * p.gs[1] + n * p.gs[2] + f * p.gs[3]];
}

// The whole scan of (b, h).
static void runHead(const LinPlan& p, int32_t b, int32_t h, float* scratch) {
  const LinScratch s = linear::carveLinScratch(p, scratch);
  const int C = p.C, Cp = p.Cp, Fp = p.Fp, Vp = p.Vp, Dkp = p.Dkp, Df = p.Df, Dv = p.Dv, Dk = p.Dk;
  const int32_t kh = h / p.group;
  const size_t head = static_cast<size_t>(b) * p.Hq + h;
  const bool perDim = p.decay == LinearDecay::PerStepFeature;
  const bool scalarDecay = p.decay == LinearDecay::PerHead || p.decay == LinearDecay::PerStep;

  // The state, padded: S [Fp][Vp] (zero outside [Df][Dv]), z [Fp].
  std::memset(s.S, 0, sizeof(float) * static_cast<size_t>(Fp) * Vp);
  std::memset(s.z, 0, sizeof(float) * static_cast<size_t>(Fp));
  if (p.initS) {
    for (int f = 0; f < Df; ++f)
      std::memcpy(s.S + f * Vp, p.initS + (head * Df + f) * Dv, sizeof(float) * static_cast<size_t>(Dv));
    std::memcpy(s.z, p.initZ + head * Df, sizeof(float) * static_cast<size_t>(Df));
  }
  if (perDim) {  // the padding features (f >= Df) of the gate buffers are read by 8-lane products
    std::memset(s.gamD, 0, sizeof(float) * static_cast<size_t>(C) * Fp);
    std::memset(s.gD, 0, sizeof(float) * static_cast<size_t>(C) * Fp);
  }

  for (int64_t n0 = 0; n0 < p.N; n0 += C) {
    if (attnflow::cancelRequested(p.cancel)) return;  // the caller reports Cancelled; the state is not written
    const int L = static_cast<int>(p.N - n0 < C ? p.N - n0 : C);

    // --- load: φ(q), φ(k) (and kᵀ), v, gates -------------------------------------------------
    // The next chunk's rows are requested from memory a few lines per row block of this chunk's
    // GEMMs (the QKᵀ one unless the gates are per dimension, the two output ones, the state one).
    const int next = n0 + C < p.N ? static_cast<int>(p.N - n0 - C < C ? p.N - n0 - C : C) : 0;
    PrefetchSteps ahead;
    if (next > 0)
      ahead = nextChunkPrefetch(p, b * p.q.sb + h * p.q.sh + (n0 + C) * p.q.ss,
                                b * p.k.sb + kh * p.k.sh + (n0 + C) * p.k.ss,
                                b * p.v.sb + kh * p.v.sh + (n0 + C) * p.v.ss, next,
                                (perDim ? 2 : 3) * ((L + kGemmR - 1) / kGemmR) + (Df + kGemmR - 1) / kGemmR);
    for (int t = 0; t < L; ++t)
      loadRow(p.q.data, p.dtype, b * p.q.sb + h * p.q.sh + (n0 + t) * p.q.ss, p.q.sd, Dk, Dkp, s.x + t * Dkp);
    featureRows(p, s, L, s.qf);
    for (int t = 0; t < L; ++t)
      loadRow(p.k.data, p.dtype, b * p.k.sb + kh * p.k.sh + (n0 + t) * p.k.ss, p.k.sd, Dk, Dkp, s.x + t * Dkp);
    featureRows(p, s, L, s.kf);
    transposeKf(s.kf, Fp, L, Df, s.kT, Cp);
    for (int t = 0; t < L; ++t)
      loadRow(p.v.data, p.dtype, b * p.v.sb + kh * p.v.sh + (n0 + t) * p.v.ss, p.v.sd, Dv, Vp, s.vv + t * Vp);

    if (scalarDecay) {
      for (int t = 0; t < L; ++t) {
        const float g = p.decay == LinearDecay::PerHead ? p.decayHead[h] : gateAt(p, b, h, n0 + t, 0);
        s.gam[t] = g;
        s.g[t] = t == 0 ? g : s.g[t - 1] * g;
      }
    } else if (perDim) {
      for (int t = 0; t < L; ++t) {
        float* gm = s.gamD + t * Fp;
        float* gp = s.gD + t * Fp;
        for (int f = 0; f < Df; ++f) {
          const float g = gateAt(p, b, h, n0 + t, f);
          gm[f] = g;
          gp[f] = t == 0 ? g : s.gD[(t - 1) * Fp + f] * g;
        }
      }
    }

    // --- A: the intra-chunk scores (lower triangle) ------------------------------------------
    if (!perDim) {
      gemm(L, Cp, Df, s.qf, Fp, s.kT, Cp, s.a, Cp, false, kTriN, &ahead);
      for (int t = 0; t < L; ++t) {
        float* arow = s.a + t * Cp;
        if (scalarDecay) {
          const float g = s.gam[t];
          for (int u = 0; u < t; ++u) s.drow[u] *= g;
          s.drow[t] = 1.f;
          for (int u = 0; u <= t; ++u) arow[u] *= s.drow[u];
        }
        for (int u = t + 1; u < Cp; ++u) arow[u] = 0.f;
      }
      if (scalarDecay)
        for (int u = L; u < Cp; ++u) s.drow[u] = 0.f;  // P_{L−1,u} for the state update
    } else {
      // Row t: first decay every earlier key by γ_t (kT[f][u] *= γ_t[f] for u < t), then
      // A[t,u] = Σ_f φq_t[f]·kT[f][u] for u ≤ t. After the last row kT = φk ⊙ P_{L−1,·}.
      alignas(64) float laneLess[kLanes];
      for (int t = 0; t < L; ++t) {
        float* arow = s.a + t * Cp;
        const float* qrow = s.qf + t * Fp;
        const float* grow = s.gamD + t * Fp;
        for (int j = 0; j * kLanes <= t; ++j) {
          const int u0 = j * kLanes;
          const bool full = u0 + kLanes <= t;
          for (int l = 0; l < kLanes; ++l) laneLess[l] = u0 + l < t ? 1.f : 0.f;
          const V mask = vload(laneLess);
          V acc = vzero();
          for (int f = 0; f < Df; ++f) {
            float* kp = s.kT + f * Cp + u0;
            V kv = vload(kp);
            const V g = vset1(grow[f]);
            kv = full ? vmul(kv, g) : vmul(kv, vfma(vsub(g, vset1(1.f)), mask, vset1(1.f)));
            vstore(kp, kv);
            acc = vfma(vset1(qrow[f]), kv, acc);
          }
          vstore(arow + u0, acc);
        }
        for (int u = t + 1; u < Cp; ++u) arow[u] = 0.f;
      }
    }

    // --- outputs: y = (φq ⊙ G)·S₀ + A·V, den = (φq ⊙ G)·z₀ + Σ A ------------------------------
    if (scalarDecay) {
      for (int t = 0; t < L; ++t) {
        const V g = vset1(s.g[t]);
        for (int i = 0; i < Fp; i += kLanes) vstore(s.qf + t * Fp + i, vmul(vload(s.qf + t * Fp + i), g));
      }
    } else if (perDim) {
      for (int t = 0; t < L; ++t)
        for (int i = 0; i < Fp; i += kLanes) vstore(s.qf + t * Fp + i, vmul(vload(s.qf + t * Fp + i), vload(s.gD + t * Fp + i)));
    }
    gemm(L, Vp, Df, s.qf, Fp, s.S, Vp, s.y, Vp, false, kFull, &ahead);
    gemm(L, Vp, L, s.a, Cp, s.vv, Vp, s.y, Vp, true, kTriK, &ahead);
    if (p.normalize) {
      for (int t = 0; t < L; ++t) {
        V acc = vzero();
        for (int i = 0; i < Fp; i += kLanes) acc = vfma(vload(s.qf + t * Fp + i), vload(s.z + i), acc);
        for (int u = 0; u < Cp; u += kLanes) acc = vadd(acc, vload(s.a + t * Cp + u));
        const float den = laneSum(acc);
        const V inv = vset1(1.f / (den + p.eps));
        for (int i = 0; i < Vp; i += kLanes) vstore(s.y + t * Vp + i, vmul(vload(s.y + t * Vp + i), inv));
      }
    }
    for (int t = 0; t < L; ++t)
      storeRow(p.out, p.dtype, b * p.osb + h * p.osh + (n0 + t) * p.oss, p.osd, Dv, s.y + t * Vp);

    // --- state: S = diag(G_{L−1}) S₀ + (φk ⊙ P_{L−1})ᵀ V, z likewise --------------------------
    if (scalarDecay) {
      const V gl = vset1(s.g[L - 1]);
      for (int f = 0; f < Df; ++f) {
        float* row = s.kT + f * Cp;
        for (int u = 0; u < Cp; u += kLanes) vstore(row + u, vmul(vload(row + u), vload(s.drow + u)));
        for (int i = 0; i < Vp; i += kLanes) vstore(s.S + f * Vp + i, vmul(vload(s.S + f * Vp + i), gl));
      }
      for (int i = 0; i < Fp; i += kLanes) vstore(s.z + i, vmul(vload(s.z + i), gl));
    } else if (perDim) {
      const float* gl = s.gD + (L - 1) * Fp;
      for (int f = 0; f < Df; ++f) {
        const V g = vset1(gl[f]);
        for (int i = 0; i < Vp; i += kLanes) vstore(s.S + f * Vp + i, vmul(vload(s.S + f * Vp + i), g));
        s.z[f] *= gl[f];
      }
    }
    gemm(Df, Vp, L, s.kT, Cp, s.vv, Vp, s.S, Vp, true, kFull, &ahead);
    for (int f = 0; f < Df; ++f) {
      V acc = vzero();
      for (int u = 0; u < Cp; u += kLanes) acc = vadd(acc, vload(s.kT + f * Cp + u));
      s.z[f] += laneSum(acc);
    }
  }

  if (p.stateS) {
    for (int f = 0; f < Df; ++f)
      std::memcpy(p.stateS + (head * Df + f) * Dv, s.S + f * Vp, sizeof(float) * static_cast<size_t>(Dv));
    std::memcpy(p.stateZ + head * Df, s.z, sizeof(float) * static_cast<size_t>(Df));
  }
}

}  // namespace

extern const linear::LinearKernel kLinearKernel = {kLanes, &runHead};
