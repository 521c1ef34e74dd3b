// One attention case on the emulated GPU (attention_check.h): inputs in the case's dtype and
// layout, a BlockMask built by brute force from the case's predicate, the float64 reference with
// IEEE semantics for non-finite inputs, the kernel run, the comparison.
#include "attention_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "emu.h"
#include "fa2_kernel.cuh"
#include "general.cuh"
#include "general_mass.cuh"

namespace emutest {
namespace {

using namespace attnflow;
using namespace attnflow::cudaimpl;

struct Mask {
  BlockMaskView view;
  std::vector<int32_t> rowPtr, colIdx, partial;
  std::vector<uint32_t> bits;
};

Mask buildMask(const Case& c) {
  Mask m;
  const int bq = kTileQ, bk = kTileK, wpr = (bk + 31) / 32;
  const int nqb = (c.Sq + bq - 1) / bq, nkb = (c.Sk + bk - 1) / bk;
  const int heads = c.perHead ? c.Hq : c.maskPerKvHead ? c.Hkv : 1;
  m.rowPtr.push_back(0);
  for (int mh = 0; mh < heads; ++mh) {
    const int h = c.maskPerKvHead ? mh * (c.Hq / c.Hkv) : mh;  // a query head this row serves
    for (int qb = 0; qb < nqb; ++qb) {
      for (int kb = 0; kb < nkb; ++kb) {
        std::vector<uint32_t> tile(static_cast<size_t>(bq) * wpr, 0);
        int allowed = 0, inRange = 0;
        for (int r = 0; r < bq; ++r) {
          const int i = qb * bq + r;
          if (i >= c.Sq) continue;
          for (int cc = 0; cc < bk; ++cc) {
            const int j = kb * bk + cc;
            if (j >= c.Sk) continue;
            ++inRange;
            if (c.allowed(h, i, j)) {
              ++allowed;
              tile[static_cast<size_t>(r) * wpr + (cc >> 5)] |= 1u << (cc & 31);
            }
          }
        }
        if (allowed == 0) continue;
        m.colIdx.push_back(kb);
        if (allowed == inRange) {
          m.partial.push_back(-1);
        } else {
          m.partial.push_back(static_cast<int32_t>(m.bits.size() / tile.size()));
          m.bits.insert(m.bits.end(), tile.begin(), tile.end());
        }
      }
      m.rowPtr.push_back(static_cast<int32_t>(m.colIdx.size()));
    }
  }
  BlockMaskView& v = m.view;
  v.seqQ = c.Sq;
  v.seqK = c.Sk;
  v.blockQ = bq;
  v.blockK = bk;
  v.numQBlocks = nqb;
  v.numKBlocks = nkb;
  v.heads = heads;
  v.wordsPerRow = wpr;
  v.rowPtr = m.rowPtr.data();
  v.rowPtrLen = m.rowPtr.size();
  v.colIdx = m.colIdx.data();
  v.partial = m.partial.data();
  v.nnz = m.colIdx.size();
  v.bits = m.bits.data();
  v.bitsLen = m.bits.size();
  return m;
}

// A tensor stored in the case's dtype and layout, with its values (as stored) in float64.
struct Operand4 {
  std::vector<unsigned char> bytes;
  std::vector<double> values;  // logical [B][H][S][D]
  int64_t strides[4];
};

Operand4 makeOperand(const Case& c, int H, int S, std::mt19937& rng) {
  Operand4 o;
  const size_t n = static_cast<size_t>(c.B) * H * S * c.D;
  const size_t elt = dtypeSize(c.dtype);
  o.bytes.assign(n * elt, 0);
  o.values.resize(n);
  const int64_t D = c.D;
  if (c.bshd) {
    o.strides[0] = static_cast<int64_t>(S) * H * D;
    o.strides[1] = D;
    o.strides[2] = static_cast<int64_t>(H) * D;
  } else {
    o.strides[0] = static_cast<int64_t>(H) * S * D;
    o.strides[1] = static_cast<int64_t>(S) * D;
    o.strides[2] = D;
  }
  o.strides[3] = 1;
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s)
        for (int d = 0; d < c.D; ++d) {
          const float x = normal(rng);
          const int64_t at = b * o.strides[0] + h * o.strides[1] + s * o.strides[2] + d;
          double stored;
          if (c.dtype == DType::F32) {
            std::memcpy(&o.bytes[at * 4], &x, 4);
            stored = x;
          } else {
            const uint16_t bits = c.dtype == DType::F16 ? cpu::floatToHalf(x) : cpu::floatToBf16(x);
            std::memcpy(&o.bytes[at * 2], &bits, 2);
            stored = c.dtype == DType::F16 ? cpu::halfToFloat(bits) : cpu::bf16ToFloat(bits);
          }
          o.values[((static_cast<size_t>(b) * H + h) * S + s) * c.D + d] = stored;
        }
  return o;
}

void setElement(const Case& c, Operand4& o, int H, int S, int b, int h, int s, int d, float x) {
  const int64_t at = b * o.strides[0] + h * o.strides[1] + s * o.strides[2] + d;
  double stored;
  if (c.dtype == DType::F32) {
    std::memcpy(&o.bytes[at * 4], &x, 4);
    stored = x;
  } else {
    const uint16_t bits = c.dtype == DType::F16 ? cpu::floatToHalf(x) : cpu::floatToBf16(x);
    std::memcpy(&o.bytes[at * 2], &bits, 2);
    stored = c.dtype == DType::F16 ? cpu::halfToFloat(bits) : cpu::bf16ToFloat(bits);
  }
  o.values[((static_cast<size_t>(b) * H + h) * S + s) * c.D + d] = stored;
}

void inject(const Case& c, Operand4& q, Operand4& k, Operand4& v) {
  if (c.colOnes) {
    for (int b = 0; b < c.B; ++b)
      for (int h = 0; h < c.Hkv; ++h)
        for (int s = 0; s < c.Sk; ++s) setElement(c, k, c.Hkv, c.Sk, b, h, s, 0, 1.f);
  }
  for (const Case::Poke& pk : c.pokes) {
    if (pk.t == 'q') setElement(c, q, c.Hq, c.Sq, pk.b, pk.h, pk.s, pk.d, pk.value);
    if (pk.t == 'k') setElement(c, k, c.Hkv, c.Sk, pk.b, pk.h, pk.s, pk.d, pk.value);
    if (pk.t == 'v') setElement(c, v, c.Hkv, c.Sk, pk.b, pk.h, pk.s, pk.d, pk.value);
  }
}

TensorView viewOf(const Case& c, Operand4& o, int H, int S) {
  TensorView t;
  t.data = o.bytes.data();
  t.dtype = c.dtype;
  t.shape[0] = c.B;
  t.shape[1] = H;
  t.shape[2] = S;
  t.shape[3] = c.D;
  for (int a = 0; a < 4; ++a) t.strides[a] = o.strides[a];
  t.capacity = o.bytes.size() / dtypeSize(c.dtype);
  return t;
}

void ropeRow(std::vector<double>& x, int64_t pos, const RopeParams& r) {
  const int half = r.dims / 2;
  std::vector<double> y = x;
  for (int t = 0; t < half; ++t) {
    const double ang = static_cast<double>(pos + r.offset) * std::pow(static_cast<double>(r.base), -2.0 * t / r.dims);
    const double cs = std::cos(ang), sn = std::sin(ang);
    const int i0 = r.interleaved ? 2 * t : t, i1 = r.interleaved ? 2 * t + 1 : t + half;
    y[i0] = x[i0] * cs - x[i1] * sn;
    y[i1] = x[i0] * sn + x[i1] * cs;
  }
  x = y;
}

struct Reference {
  std::vector<double> out, lse, keyMass;
};

Reference reference(const Case& c, const Operand4& q, const Operand4& k, const Operand4& v, const std::vector<double>& slopes) {
  Reference r;
  const int D = c.D, group = c.Hq / c.Hkv;
  const double scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(D));
  r.keyMass.assign(static_cast<size_t>(c.B) * c.Hkv * c.Sk, 0.0);
  r.out.assign(static_cast<size_t>(c.B) * c.Hq * c.Sq * D, 0.0);
  r.lse.assign(static_cast<size_t>(c.B) * c.Hq * c.Sq, -INFINITY);
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h) {
      const int hk = h / group;
      for (int i = 0; i < c.Sq; ++i) {
        const int64_t p = c.qpos(i);
        std::vector<double> qi(q.values.begin() + ((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i) * D,
                               q.values.begin() + ((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i + 1) * D);
        if (c.rope.enabled) ropeRow(qi, p, c.rope);
        // IEEE evaluation of the naive formula over the allowed keys (the semantics of
        // native/cpu/kernel_body.h): a NaN or +inf score makes the row NaN, a -inf score has
        // weight 0 (0 * NaN/inf in v still NaN), a row whose allowed scores are all -inf (or that
        // has none) is empty (zeros, lse -inf); masked keys never reach the row.
        std::vector<double> s(c.Sk, -INFINITY);
        std::vector<char> allowed(c.Sk, 0);
        double mx = -INFINITY;
        bool nanRow = false;
        for (int j = 0; j < c.Sk; ++j) {
          if (!c.allowed(h, i, j)) continue;
          allowed[j] = 1;
          const int64_t kp = c.kpos(hk, j);
          std::vector<double> kj(k.values.begin() + ((static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j) * D,
                                 k.values.begin() + ((static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j + 1) * D);
          if (c.rope.enabled) ropeRow(kj, kp, c.rope);
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += qi[d] * kj[d];
          double x = dot * scale;
          if (c.softcap > 0) x = c.softcap * std::tanh(x / c.softcap);
          if (c.alibi) x -= slopes[h] * std::fabs(static_cast<double>(p - kp));
          s[j] = x;
          if (std::isnan(x)) nanRow = true;
          else mx = std::max(mx, x);
        }
        double* o = &r.out[((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i) * D];
        if (nanRow || mx == INFINITY) {
          for (int d = 0; d < D; ++d) o[d] = NAN;
          r.lse[(static_cast<size_t>(b) * c.Hq + h) * c.Sq + i] = NAN;
          continue;
        }
        if (mx == -INFINITY) continue;
        double l = 0;
        for (int j = 0; j < c.Sk; ++j) l += allowed[j] ? std::exp(s[j] - mx) : 0;
        for (int j = 0; j < c.Sk; ++j) {
          if (!allowed[j]) continue;
          const double w = std::exp(s[j] - mx) / l;
          r.keyMass[(static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j] += w;
          const double* vj = &v.values[((static_cast<size_t>(b) * c.Hkv + hk) * c.Sk + j) * D];
          for (int d = 0; d < D; ++d) o[d] += w * vj[d];
        }
        r.lse[(static_cast<size_t>(b) * c.Hq + h) * c.Sq + i] = mx + std::log(l);
      }
    }
  return r;
}

double relError(const std::vector<double>& a, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    // the pattern of non-finite values must match exactly (NaN where the reference has NaN,
    // the same infinity where it has one); the finite ones are measured
    if (std::isnan(a[i]) || std::isnan(ref[i])) {
      if (std::isnan(a[i]) && std::isnan(ref[i])) continue;
      return NAN;
    }
    if (!std::isfinite(ref[i]) || !std::isfinite(a[i])) {
      if (a[i] != ref[i]) return INFINITY;
      continue;
    }
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

template <typename T>
void runRope(const Operand& src, int B, int H, int S, int D, int64_t posShift, const RopeParams& rope, void* dst,
             const int32_t* positions, int64_t posStride) {
  const int64_t rows = static_cast<int64_t>(B) * H * S;
  if (rows == 0) return;
  // The launcher's grid is min(rows, 65535 * 16); a smaller grid exercises the grid-stride loop.
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 7));
  emu::launch(grid, 128, 0, [&] {
    gen::ropeKernel<T>(src, B, H, S, D, posShift, rope.dims, rope.interleaved,
                       std::log2(static_cast<double>(rope.base)), rope.offset, static_cast<T*>(dst), positions,
                       posStride);
  });
}

template <typename T>
void runGeneral(const KernelParams& kp, int sms, int* splitsOut, bool* vecOut, const int32_t* hostRowPtr) {
  int64_t count = 0;
  gen::Items items = gen::planItems(kp, sms, &count);
  *splitsOut = items.splits;
  *vecOut = items.vecKV;
  if (count <= 0) return;
  std::vector<float> ws;
  if (items.splits > 1) {
    ws.assign(static_cast<size_t>(count) * items.splits * kTileQ * (kp.D + 2), NAN);
    items.ws = ws.data();
  }
  std::vector<int64_t> off;
  std::vector<float> massP, massM, finalML;
  if (kp.keyMass != nullptr) {
    off.resize(static_cast<size_t>(count * items.splits));
    const int64_t slots = gen::massOffsets(kp, items, count, hostRowPtr, off.data());
    massP.assign(static_cast<size_t>(slots) * kTileQ + 1, NAN);  // poisoned: unrecorded slots must not be read
    massM.assign(static_cast<size_t>(slots) / gen::kHalf * kTileQ + 1, NAN);
    finalML.assign(static_cast<size_t>(count) * 2 * kTileQ, NAN);
    items.massP = massP.data();
    items.massM = massM.data();
    items.finalML = finalML.data();
    items.massOff = off.data();
  }
  emu::launch(static_cast<unsigned>(count * items.splits), gen::kThreads, gen::generalSmemBytes(kp.D),
              [&] { gen::generalKernel<T>(kp, items); });
  if (items.splits > 1) {
    emu::launch(static_cast<unsigned>(count), gen::kThreads, 0, [&] { gen::combineKernel<T>(kp, items); });
  }
  if (kp.keyMass != nullptr) {
    emu::launch(static_cast<unsigned>(count * items.splits), gen::kThreads, 0, [&] { gen::massKernel(kp, items); });
  }
}

template <typename T>
void runFa2(const KernelParams& kp) {
  const unsigned blocks = static_cast<unsigned>(static_cast<int64_t>(kp.numQBlocks) * kp.Hq * kp.B);
  if (kp.D == 64) {
    emu::launch(blocks, fa2::kThreads, fa2::smemBytes<64>(), [&] { fa2::forwardKernel<T, 64>(kp); });
  } else {
    emu::launch(blocks, fa2::kThreads, fa2::smemBytes<128>(), [&] { fa2::forwardKernel<T, 128>(kp); });
  }
}

}  // namespace

bool runAttentionCase(const Case& c, unsigned seed) {
  std::mt19937 rng(seed);
  Operand4 q = makeOperand(c, c.Hq, c.Sq, rng), k = makeOperand(c, c.Hkv, c.Sk, rng), v = makeOperand(c, c.Hkv, c.Sk, rng);
  inject(c, q, k, v);
  Operand4 out;
  out.bytes.assign(q.bytes.size(), 0xff);  // poisoned: NaN in every dtype
  for (int a = 0; a < 4; ++a) out.strides[a] = q.strides[a];
  std::vector<float> lse(static_cast<size_t>(c.B) * c.Hq * c.Sq, NAN);
  Mask mask = buildMask(c);
  std::vector<double> slopes(c.Hq);
  std::vector<float> slopesF(c.Hq);
  for (int h = 0; h < c.Hq; ++h) slopes[h] = slopesF[h] = std::exp2(-8.0 * (h + 1) / c.Hq);

  AttentionParams p;
  p.q = viewOf(c, q, c.Hq, c.Sq);
  p.k = viewOf(c, k, c.Hkv, c.Sk);
  p.v = viewOf(c, v, c.Hkv, c.Sk);
  p.out = viewOf(c, out, c.Hq, c.Sq);
  p.lse = lse.data();
  p.lseLen = lse.size();
  p.mask = mask.view;
  p.scale = c.scale > 0 ? c.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.D)));
  p.softcap = c.softcap;
  p.rope = c.rope;
  if (c.alibi) {
    p.alibiSlopes = slopesF.data();
    p.alibiLen = slopesF.size();
  }
  p.queryStart = c.queryStart;
  if (!c.queryPos.empty()) {
    p.queryPositions = c.queryPos.data();
    p.queryPositionsLen = c.queryPos.size();
  }
  if (!c.keyPos.empty()) {
    p.keyPositions = c.keyPos.data();
    p.keyPositionsLen = c.keyPos.size();
  }
  std::vector<float> keyMass;
  if (c.keyMass) {
    keyMass.assign(static_cast<size_t>(c.B) * c.Hkv * c.Sk, NAN);  // poisoned: the launcher zeroes it
    p.keyMass = keyMass.data();
    p.keyMassLen = keyMass.size();
  }
  Status st = validateAttention(p);
  if (!st.ok) {
    std::printf("FAIL %s: validateAttention: %s\n", c.name.c_str(), st.message.c_str());
    return false;
  }
  KernelParams kp{};
  st = core::resolveAttention(p, TileShape{kTileQ, kTileK}, "the CUDA kernels'", "cudaTileShape", &kp);
  if (!st.ok) {
    std::printf("FAIL %s: resolveAttention: %s\n", c.name.c_str(), st.message.c_str());
    return false;
  }
  std::vector<float> alibi2(c.Hq);
  if (c.alibi) {
    core::alibiLog2(p, c.Hq, alibi2.data());
    kp.alibi2 = alibi2.data();
  }
  // the emulator's "device" memory is host memory: the resolved call's positions need no upload
  if (c.keyMass) std::fill(keyMass.begin(), keyMass.end(), 0.f);  // launchGeneral's cudaMemsetAsync
  emu::gGlobals = {{q.bytes.data(), q.bytes.size()}, {k.bytes.data(), k.bytes.size()}, {v.bytes.data(), v.bytes.size()}};
  std::vector<unsigned char> qr, kr;
  if (c.rope.enabled) {
    const size_t elt = dtypeSize(c.dtype);
    qr.assign(static_cast<size_t>(c.B) * c.Hq * c.Sq * c.D * elt, 0xff);
    kr.assign(static_cast<size_t>(c.B) * c.Hkv * c.Sk * c.D * elt, 0xff);
    switch (c.dtype) {
      case DType::F32:
        runRope<float>(kp.q, c.B, c.Hq, c.Sq, c.D, kp.shift, c.rope, qr.data(), kp.qpos, 0);
        runRope<float>(kp.k, c.B, c.Hkv, c.Sk, c.D, 0, c.rope, kr.data(), kp.kpos, kp.kposStride);
        break;
      case DType::F16:
        runRope<__half>(kp.q, c.B, c.Hq, c.Sq, c.D, kp.shift, c.rope, qr.data(), kp.qpos, 0);
        runRope<__half>(kp.k, c.B, c.Hkv, c.Sk, c.D, 0, c.rope, kr.data(), kp.kpos, kp.kposStride);
        break;
      case DType::BF16:
        runRope<__nv_bfloat16>(kp.q, c.B, c.Hq, c.Sq, c.D, kp.shift, c.rope, qr.data(), kp.qpos, 0);
        runRope<__nv_bfloat16>(kp.k, c.B, c.Hkv, c.Sk, c.D, 0, c.rope, kr.data(), kp.kpos, kp.kposStride);
        break;
    }
    const int64_t D = c.D;
    kp.q = Operand{qr.data(), c.dtype, static_cast<int64_t>(c.Hq) * c.Sq * D, static_cast<int64_t>(c.Sq) * D, D, 1};
    kp.k = Operand{kr.data(), c.dtype, static_cast<int64_t>(c.Hkv) * c.Sk * D, static_cast<int64_t>(c.Sk) * D, D, 1};
    emu::gGlobals.push_back({qr.data(), qr.size()});
    emu::gGlobals.push_back({kr.data(), kr.size()});
  }
  const bool fa2 = useFa2(kp, c.dtype, c.forced);
  int splits = 1;
  bool vec = false;
  switch (c.dtype) {
    case DType::F32: runGeneral<float>(kp, c.sms, &splits, &vec, mask.rowPtr.data()); break;
    case DType::F16: fa2 ? runFa2<__half>(kp) : runGeneral<__half>(kp, c.sms, &splits, &vec, mask.rowPtr.data()); break;
    case DType::BF16:
      fa2 ? runFa2<__nv_bfloat16>(kp) : runGeneral<__nv_bfloat16>(kp, c.sms, &splits, &vec, mask.rowPtr.data());
      break;
  }

  // Compare.
  Reference ref = reference(c, q, k, v, slopes);
  std::vector<double> got(ref.out.size()), gotLse(lse.begin(), lse.end());
  for (int b = 0; b < c.B; ++b)
    for (int h = 0; h < c.Hq; ++h)
      for (int i = 0; i < c.Sq; ++i)
        for (int d = 0; d < c.D; ++d) {
          const int64_t at = b * out.strides[0] + h * out.strides[1] + i * out.strides[2] + d;
          got[((static_cast<size_t>(b) * c.Hq + h) * c.Sq + i) * c.D + d] = emu::storedValue(out.bytes, at, c.dtype);
        }
  const double bar = c.dtype == DType::F32 ? 1e-5 : c.dtype == DType::F16 ? 2e-3 : 1e-2;
  const double lseBar = c.dtype == DType::F32 ? 1e-5 : !c.rope.enabled ? 1e-4 : c.dtype == DType::F16 ? 2e-3 : 1e-2;
  const double e = relError(got, ref.out), el = relError(gotLse, ref.lse);
  double em = 0;
  if (c.keyMass) em = relError(std::vector<double>(keyMass.begin(), keyMass.end()), ref.keyMass);
  const bool ok = e <= bar && el <= lseBar && em <= 1e-5;  // NaN (pattern mismatch) fails
  char mass[32] = "";
  if (c.keyMass) std::snprintf(mass, sizeof mass, "  keyMass %.2e", em);
  std::printf("%s %-58s %-7s %-6s splits %2d  out %.2e (bar %.0e)  lse %.2e%s\n", ok ? "ok  " : "FAIL",
              c.name.c_str(), fa2 ? "fa2" : "general", fa2 ? "" : vec ? "vecKV" : "scalar", splits, e, bar, el, mass);
  return ok;
}

}  // namespace emutest