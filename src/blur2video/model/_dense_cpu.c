/* The memory-bound parts of a fanned dense block (blur2video/model/blocks.py), each one pass over
 * channels-last pixels: torch runs them as separate strided adds, copies and activations (three
 * passes per new feature) and as one skinny matrix product per piece for the 1x1 transition.
 * Plain C without the Python API; blur2video/model/dense_cpu.py loads it with ctypes. float32.
 *
 * The pixels are split over an OpenMP team. Built with -fopenmp, this library names libgomp.so.1,
 * and torch has already loaded its own libgomp.so.1 globally, so the loader binds both to torch's:
 * the kernels run on the threads torch's convolutions use. A thread pool of our own beside them
 * made every kernel and the convolutions after it slower (the two pools' threads took turns on
 * the cores). Only GOMP_parallel and omp_get_thread_num/num_threads are used, which every libgomp
 * since GCC 4.9 has. */
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../_kernels.h"

#define LANES 8    /* channels are handled in groups of 8: the growth must be a multiple of it */
#define MAX_OUT 256 /* widest 1x1 transition output the kernel keeps on its stack */

/* Branch-free, so it vectorises: a conv output's signs are random, and a branch per value
 * mispredicted often enough to halve the kernels' speed. */
/* max(v, slope v) for 0 <= slope <= 1, written as a select gcc turns into one max instruction.
 * "v > 0 ? v : slope v" became masked stores, which this AMD CPU runs slowly when a vector's
 * signs are mixed, as a conv output's are: 3x slower there than on all-positive data. */
ALWAYS_INLINE float leaky(float v, float slope) {
    const float s = v * slope;
    return v > s ? v : s;
}

/* One pixel's step: the first `growth` channels of acc + out become the new feature (activated),
 * the next `rest` channels of out are added into acc for the features still to come. */
ALWAYS_INLINE void step_pixel(float *RESTRICT acc, const float *RESTRICT out, float *RESTRICT feat, int growth,
                              int rest, float slope) {
    for (int b = 0; b < growth; b += LANES)
        for (int c = 0; c < LANES; c++) feat[b + c] = leaky(acc[b + c] + out[b + c], slope);
    for (int b = growth; b < growth + rest; b += LANES)
        for (int c = 0; c < LANES; c++) acc[b + c] += out[b + c];
}

/* Pixels [begin, end) of one dense step (see b2v_dense_step). */
CLONES static void step_range(float *acc, ptrdiff_t acc_stride, const float *out, ptrdiff_t out_stride, float *feat,
                              int growth, int rest, float slope, size_t begin, size_t end) {
    for (size_t p = begin; p < end; p++) {
        float *a = acc + p * acc_stride;
        float *f = feat + p * growth;
        if (out == NULL) {
            for (int b = 0; b < growth; b += LANES)
                for (int c = 0; c < LANES; c++) f[b + c] = leaky(a[b + c], slope);
        } else if (growth == LANES) {
            step_pixel(a, out + p * out_stride, f, LANES, rest, slope); /* the literal growth unrolls */
        } else {
            step_pixel(a, out + p * out_stride, f, growth, rest, slope);
        }
    }
}

/* One input of the transition or of a concatenation: `width` channels at `data`, `stride` floats
 * per pixel. With an `addend` (its own stride), the piece is leaky(data + addend) computed on the
 * fly: the block's last feature, which only the transition reads, is never stored. */
typedef struct {
    const float *data;
    const float *addend;
    ptrdiff_t stride, addend_stride;
    int width;
} b2v_piece;

/* Channel c of pixel t of a piece whose pixel 0 is at x, and of a summed piece's tile as
 * gathered into `summed` by sum_tile. */
#define PLAIN_VALUE(t, c) x[(t) * stride + (c)]
#define SUMMED_VALUE(t, c) summed[t][c]
#define MAX_SUMMED 64 /* widest summed piece: the block's growth */
#define TILE 8       /* pixels of the transition computed together (see fuse_tile) */

/* leaky(x + a) for TILE pixels of a summed piece, vectorised over its channels (a multiple of LANES). */
ALWAYS_INLINE void sum_tile(const float *x, ptrdiff_t stride, const float *a, ptrdiff_t addend_stride, int width,
                            int tile, float slope, float summed[TILE][MAX_SUMMED]) {
    for (int t = 0; t < tile; t++)
        for (int b = 0; b < width; b += LANES)
            for (int c = 0; c < LANES; c++)
                summed[t][b + c] = leaky(x[t * stride + b + c] + a[t * addend_stride + b + c], slope);
}

/* TILE pixels of the 1x1 transition: bias + sum over pieces of piece channels x weight rows. The
 * weight rows and the running totals are `span` floats (cout rounded up to LANES), and the TILE
 * pixels' totals are independent chains of FMAs: one pixel alone would wait on each FMA's
 * latency. For spans up to 32 the totals are NV vectors of 8 or 16 floats (GCC vector
 * extensions, lowered to the target's registers), held in registers: a float array of them was
 * kept in memory, 1.3x slower at 8 lanes and 2.5x at 16. Wider spans take the plain loop (they
 * only occur at coarse scales). */
typedef float vec8 __attribute__((vector_size(8 * sizeof(float))));
typedef float vec16 __attribute__((vector_size(16 * sizeof(float))));

/* Add one piece's channels times their weight rows to the tile's totals, reading values by VALUE. */
#define ACCUMULATE_VEC(VALUE, vec, NV)                                                                            \
    for (int c = 0; c < width; c++, w += span) {                                                           \
        vec row[NV];                                                                                       \
        for (int v = 0; v < NV; v++) __builtin_memcpy(&row[v], w + v * lanes, sizeof(vec));               \
        for (int t = 0; t < TILE; t++) {                                                                   \
            const float s = t < tile ? VALUE(t, c) : 0.0f;                                                 \
            for (int v = 0; v < NV; v++) total[t][v] += s * row[v];                                        \
        }                                                                                                  \
    }

#define DEFINE_FUSE_VEC(NAME, vec, NV)                                                                        \
    ALWAYS_INLINE void NAME(const b2v_piece *pieces, int n_pieces, size_t p, int tile,                         \
                            const float *RESTRICT weight, const float *RESTRICT bias, float *RESTRICT y,       \
                            int cout, int span, float slope) {                                                 \
        const int lanes = sizeof(vec) / sizeof(float);                                                         \
        vec total[TILE][NV];                                                                                   \
        for (int t = 0; t < TILE; t++)                                                                         \
            for (int v = 0; v < NV; v++) __builtin_memcpy(&total[t][v], bias + v * lanes, sizeof(vec));        \
        const float *w = weight;                                                                               \
        for (int k = 0; k < n_pieces; k++) {                                                                   \
            const ptrdiff_t stride = pieces[k].stride, addend_stride = pieces[k].addend_stride;                \
            const float *x = pieces[k].data + p * stride;                                                      \
            const int width = pieces[k].width;                                                                 \
            if (pieces[k].addend) {                                                                            \
                float summed[TILE][MAX_SUMMED];                                                                \
                sum_tile(x, stride, pieces[k].addend + p * addend_stride, addend_stride, width, tile, slope,   \
                         summed);                                                                              \
                ACCUMULATE_VEC(SUMMED_VALUE, vec, NV)                                                          \
            } else {                                                                                           \
                ACCUMULATE_VEC(PLAIN_VALUE, vec, NV)                                                                  \
            }                                                                                                  \
        }                                                                                                      \
        for (int t = 0; t < tile; t++)                                                                         \
            for (int o = 0; o < cout; o++) y[t * cout + o] = leaky(total[t][o / lanes][o % lanes], slope);     \
    }
DEFINE_FUSE_VEC(fuse_tile_8, vec8, 1)
DEFINE_FUSE_VEC(fuse_tile_16, vec16, 1)
DEFINE_FUSE_VEC(fuse_tile_24, vec8, 3)
DEFINE_FUSE_VEC(fuse_tile_32, vec16, 2)

ALWAYS_INLINE void fuse_tile(const b2v_piece *pieces, int n_pieces, size_t p, int tile, const float *RESTRICT weight,
                             const float *RESTRICT bias, float *RESTRICT y, int cout, int span, float slope) {
    float total[TILE][MAX_OUT];
    for (int t = 0; t < tile; t++)
        for (int o = 0; o < span; o++) total[t][o] = bias[o];
    const float *w = weight;
    for (int k = 0; k < n_pieces; k++) {
        const ptrdiff_t stride = pieces[k].stride, addend_stride = pieces[k].addend_stride;
        const float *x = pieces[k].data + p * stride;
        float summed[TILE][MAX_SUMMED];
        if (pieces[k].addend)
            sum_tile(x, stride, pieces[k].addend + p * addend_stride, addend_stride, pieces[k].width, tile, slope, summed);
        for (int c = 0; c < pieces[k].width; c++, w += span)
            for (int t = 0; t < tile; t++) {
                const float v = pieces[k].addend ? SUMMED_VALUE(t, c) : PLAIN_VALUE(t, c);
                for (int o = 0; o < span; o++) total[t][o] += v * w[o];
            }
    }
    for (int t = 0; t < tile; t++)
        for (int o = 0; o < cout; o++) y[t * cout + o] = leaky(total[t][o], slope);
}

/* Whole tiles with literal sizes, then the remaining pixels one tile of fewer. */
#define FUSE_RANGE(TILE_FN, S)                                                                           \
    {                                                                                                    \
        size_t p = begin;                                                                                \
        for (; p + TILE <= end; p += TILE)                                                               \
            TILE_FN(pieces, n_pieces, p, TILE, weight, bias, out + p * cout, cout, S, slope);            \
        if (p < end) TILE_FN(pieces, n_pieces, p, (int)(end - p), weight, bias, out + p * cout, cout, S, slope); \
    }
#define FUSE_CASE(TILE_FN, S) \
    case S:                   \
        FUSE_RANGE(TILE_FN, S) return;

/* Pixels [begin, end) of the transition (see b2v_dense_fuse); the usual spans are literals so
 * their loops vectorise fully. */
CLONES static void fuse_range(const b2v_piece *pieces, int n_pieces, const float *weight, const float *bias, float *out,
                              int cout, int span, float slope, size_t begin, size_t end) {
    switch (span) {
        FUSE_CASE(fuse_tile_8, 8) FUSE_CASE(fuse_tile_16, 16) FUSE_CASE(fuse_tile_24, 24) FUSE_CASE(fuse_tile_32, 32)
        FUSE_CASE(fuse_tile, 48) FUSE_CASE(fuse_tile, 64) FUSE_CASE(fuse_tile, 96)
        default:
            FUSE_RANGE(fuse_tile, span) return;
    }
}

/* Thread t of n takes pixels [*begin, *end): shares rounded to whole TILEs. */
static void share(size_t count, int t, int n, size_t *begin, size_t *end) {
    *begin = count * t / n / TILE * TILE;
    *end = t == n - 1 ? count : count * (t + 1) / n / TILE * TILE;
}

#ifdef _OPENMP
#define TEAM_BEGIN(threads)                                        \
    _Pragma("omp parallel num_threads(threads)") {                  \
        size_t begin, end;                                          \
        share(count, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
#define TEAM_END }
#else
#define TEAM_BEGIN(threads) \
    {                       \
        size_t begin = 0, end = count;
#define TEAM_END }
#endif

/* One dense step over `count` pixels on `threads` threads. acc: the accumulator at this feature's
 * first channel, acc_stride floats per pixel; out: the conv's output, out_stride floats per pixel
 * (NULL for the first conv, whose output is the accumulator itself); feat: growth floats per
 * pixel. The first `growth` channels of acc + out become the new feature (LeakyReLU), the next
 * `rest` channels of out are added into acc. Returns -1 (writing nothing) when growth or rest is
 * not a multiple of LANES, a guard only. */
int b2v_dense_step(float *acc, ptrdiff_t acc_stride, const float *out, ptrdiff_t out_stride, float *feat, int growth,
                   int rest, float slope, size_t count, int threads) {
    if (growth <= 0 || growth % LANES || rest < 0 || rest % LANES || threads < 1) return -1;
    TEAM_BEGIN(threads)
    step_range(acc, acc_stride, out, out_stride, feat, growth, rest, slope, begin, end);
    TEAM_END
    return 0;
}

/* The 1x1 transition over `count` pixels of `n_pieces` pieces, then LeakyReLU into out (cout
 * floats per pixel), on `threads` threads. weight is (sum of piece widths, span) row-major and
 * bias span floats, both zero-padded from cout to span, a multiple of LANES. Returns -1 (writing
 * nothing) on a bad span, a guard only. */
int b2v_dense_fuse(const b2v_piece *pieces, int n_pieces, const float *weight, const float *bias, float *out, int cout,
                   int span, float slope, size_t count, int threads) {
    if (n_pieces < 1 || cout <= 0 || span < cout || span % LANES || span > MAX_OUT || threads < 1) return -1;
    for (int k = 0; k < n_pieces; k++)
        if (pieces[k].addend && (pieces[k].width % LANES || pieces[k].width > MAX_SUMMED)) return -1;
    TEAM_BEGIN(threads)
    fuse_range(pieces, n_pieces, weight, bias, out, cout, span, slope, begin, end);
    TEAM_END
    return 0;
}

/* Pixels [begin, end) of a channel concatenation (see b2v_concat). */
CLONES static void concat_range(const b2v_piece *pieces, int n_pieces, float *out, ptrdiff_t out_stride,
                                const float *slopes, size_t begin, size_t end) {
    for (size_t p = begin; p < end; p++) {
        float *y = out + p * out_stride;
        for (int k = 0; k < n_pieces; k++) {
            const float *x = pieces[k].data + p * pieces[k].stride;
            const int width = pieces[k].width;
            if (slopes[k] == 1.0f)
                for (int c = 0; c < width; c++) y[c] = x[c];
            else
                for (int c = 0; c < width; c++) y[c] = leaky(x[c], slopes[k]);
            y += width;
        }
    }
}

/* The concatenation along channels of `n_pieces` pieces (no addends) into out (out_stride floats
 * per pixel), each through a LeakyReLU of slopes[k] (1: a plain copy), over `count` pixels on
 * `threads` threads: a decoder block's input, whose upsampled feature arrives unactivated so its
 * activation costs no pass of its own. torch's cat of narrow channels-last tensors copies at a
 * third of memory speed. Returns -1 on bad arguments, a guard only. */
int b2v_concat(const b2v_piece *pieces, int n_pieces, float *out, ptrdiff_t out_stride, const float *slopes,
               size_t count, int threads) {
    if (n_pieces < 1 || threads < 1) return -1;
    for (int k = 0; k < n_pieces; k++)
        if (pieces[k].addend || slopes[k] < 0.0f || slopes[k] > 1.0f) return -1;
    TEAM_BEGIN(threads)
    concat_range(pieces, n_pieces, out, out_stride, slopes, begin, end);
    TEAM_END
    return 0;
}
