/* Exact mean of n uint8 frames into float32 in one pass: every output element reads its n inputs
 * once and is written once, so the average runs at memory speed (benchmarks/synth_video.py).
 * Plain C without the Python API; blur2video/synth/fast_mean.py loads it with ctypes and splits
 * the range over threads (ctypes releases the GIL). */
#include <stddef.h>
#include <stdint.h>

#define MAX_FRAMES 16 /* 16 * 255 fits uint16; gcc fully unrolls and vectorises up to here */

#include "../_kernels.h"

/* n is a literal at every call site, so the frame loop unrolls and the pixel loop vectorises. */
ALWAYS_INLINE void mean_fixed(const uint8_t *const *frames, const int n, float *RESTRICT out, float scale,
                              size_t begin, size_t end) {
    const uint8_t *f[MAX_FRAMES];
    for (int k = 0; k < n; k++) f[k] = frames[k];
    for (size_t i = begin; i < end; i++) {
        uint16_t s = 0;
        for (int k = 0; k < n; k++) s += f[k][i];
        out[i] = (float)s * scale;
    }
}

#define CASE(N)                                            \
    case N:                                                \
        mean_fixed(frames, N, out, scale, begin, end);     \
        return 0;

/* out[begin:end] = scale * sum_k frames[k][begin:end] (the range last, as blur2video/native.py
 * passes it); returns -1 (and writes nothing) when n is
 * outside 1..MAX_FRAMES, a guard only: fast_mean.py never passes such n (it falls back to torch). */
CLONES int b2v_mean_u8(const uint8_t *const *frames, int n, float *out, float scale, size_t begin, size_t end) {
    switch (n) {
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
        CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
        default:
            return -1;
    }
}
