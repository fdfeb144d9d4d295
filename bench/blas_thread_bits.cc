// Does OpenBLAS give the same bits at 1 and 2 threads? Prints, for the float32 GEMM shapes the
// engine runs (square MatMuls and the im2col GEMMs of BM_Conv2D and its gradients), how many
// output elements differ between the thread counts, and checks that repeated runs at a fixed
// thread count are bitwise identical. See Note [MatMul through OpenBLAS] in engine/matmul.cc.
//
//   bazel run -c opt //bench:blas_thread_bits

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "engine/engine.h"

extern "C" char* openblas_get_corename(void);

namespace concord::bench {
namespace {

using engine::Shape;
using engine::Tensor;

Tensor Filled(const Shape& shape, uint32_t seed) {
  Tensor t = Tensor::Empty(shape);
  float* p = t.mutable_data<float>();
  uint32_t s = seed;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = static_cast<float>(static_cast<int32_t>(s >> 8) % 2001) / 1000.0f;
  }
  return t;
}

struct Gemm {
  const char* what;
  int64_t m, n, k;
  bool transpose_a, transpose_b;
};

int Run() {
  constexpr int kRepeats = 5;
  const Gemm gemms[] = {
      {"square", 64, 64, 64, false, false},
      {"square", 65, 65, 65, false, false},
      {"square", 128, 128, 128, false, false},
      {"square", 256, 256, 256, false, false},
      {"square", 512, 512, 512, false, false},
      {"square", 1024, 1024, 1024, false, false},
      {"Conv2D forward (im2col x filter)", 25088, 32, 144, false, false},
      {"Conv2D input grad (g x filter^T)", 25088, 144, 32, false, true},
      {"Conv2D filter grad (im2col^T x g)", 144, 32, 25088, true, false},
  };
  std::printf("OpenBLAS core: %s\n", openblas_get_corename());
  std::printf("%-36s %17s %9s %22s %12s\n", "GEMM", "m x n x k", "reruns", "1 vs 2 threads differ",
              "max rel diff");
  bool reruns_identical = true;
  for (const Gemm& g : gemms) {
    const Tensor a = Filled(g.transpose_a ? Shape({g.k, g.m}) : Shape({g.m, g.k}), 1);
    const Tensor b = Filled(g.transpose_b ? Shape({g.n, g.k}) : Shape({g.k, g.n}), 2);
    Tensor result[2];
    bool same_runs = true;
    for (int threads = 1; threads <= 2; ++threads) {
      engine::SetNumThreads(threads);
      result[threads - 1] = engine::MatMul(a, b, g.transpose_a, g.transpose_b).value();
      for (int r = 0; r < kRepeats; ++r) {
        const Tensor again = engine::MatMul(a, b, g.transpose_a, g.transpose_b).value();
        same_runs = same_runs && engine::BitwiseEqual(again, result[threads - 1]);
      }
    }
    reruns_identical = reruns_identical && same_runs;
    const float* p = result[0].data<float>();
    const float* q = result[1].data<float>();
    int64_t differ = 0;
    double max_rel = 0;
    for (int64_t i = 0; i < result[0].num_elements(); ++i) {
      if (std::memcmp(p + i, q + i, sizeof(float)) == 0) continue;
      ++differ;
      max_rel = std::max(max_rel, std::abs(static_cast<double>(p[i]) - q[i]) / std::abs(p[i]));
    }
    char dims[64], frac[64];
    std::snprintf(dims, sizeof(dims), "%lldx%lldx%lld", static_cast<long long>(g.m),
                  static_cast<long long>(g.n), static_cast<long long>(g.k));
    std::snprintf(frac, sizeof(frac), "%lld (%.1f%%)", static_cast<long long>(differ),
                  100.0 * differ / result[0].num_elements());
    std::printf("%-36s %17s %9s %22s %12.2g\n", g.what, dims, same_runs ? "same" : "DIFFER", frac,
                max_rel);
  }
  std::printf("repeated runs at a fixed thread count: %s\n",
              reruns_identical ? "bitwise identical" : "NOT identical");
  return reruns_identical ? 0 : 1;
}

}  // namespace
}  // namespace concord::bench

int main() { return concord::bench::Run(); }
