/* Bilinear backward warps of channels-last float32 images for CPU inference, in one pass: the
 * sample position of each output pixel is computed in place (an affine map or a per-pixel flow),
 * its four neighbours' channel vectors are blended and written straight into a channel slice of
 * a wider channels-last output. torch's path builds a sampling grid, runs grid_sample on NCHW
 * copies of the input (one per frame) and then converts and concatenates the results to
 * channels-last; blur2video/geometry/warp_cpu.py measures both against each other.
 *
 * Conventions are grid_sample's with align_corners=False and zero padding (see warp.py): output
 * pixel (i, j) samples the input at pixel coordinates (x, y) with x = ((u + 1) W - 1) / 2 for
 * the normalised u = theta00 q_x + theta01 q_y + theta02, q_x = (2 j + 1) / W - 1, and likewise
 * y; for a flow, (x, y) = (j + flow_x, i + flow_y). Neighbours outside the input count as zero.
 * OpenMP as in model/_dense_cpu.c: it binds to the libgomp torch has loaded. */
#include <math.h>
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../_kernels.h"

#define MAX_CHANNELS 512

static const float ZEROS[MAX_CHANNELS];

/* One image to warp: its input and where its output goes. */
typedef struct {
    const float *src;  /* input pixel (0, 0); pixel (y, x) at src + y * src_row + x * src_px */
    const float *flow; /* flow_x of pixel (0, 0), or NULL for an affine warp */
    float *dst;        /* output pixel (0, 0); pixel (i, j) at dst + i * dst_row + j * dst_px */
    float theta[6];    /* the affine map (row-major 2x3), when flow is NULL */
} b2v_warp_image;

/* Blend four neighbours' channel vectors. */
ALWAYS_INLINE void blend(const float *p00, const float *p01, const float *p10, const float *p11, float w00, float w01,
                         float w10, float w11, float *RESTRICT out, int channels) {
    for (int c = 0; c < channels; c++) out[c] = w00 * p00[c] + w01 * p01[c] + w10 * p10[c] + w11 * p11[c];
}

/* One output pixel: blend the four neighbours of (x, y), each a vector of `channels` floats. Most
 * samples fall inside the input with all four neighbours, which takes the short path. */
ALWAYS_INLINE void sample(const float *src, ptrdiff_t src_row, ptrdiff_t src_px, int height, int width, float x,
                          float y, float *RESTRICT out, int channels) {
    if (x >= 0.0f && y >= 0.0f && x < (float)(width - 1) && y < (float)(height - 1)) {
        const int ix = (int)x, iy = (int)y; /* truncation is floor here */
        const float fx = x - (float)ix, fy = y - (float)iy;
        const float *p00 = src + iy * src_row + ix * src_px, *p10 = p00 + src_row;
        blend(p00, p00 + src_px, p10, p10 + src_px, (1.0f - fx) * (1.0f - fy), fx * (1.0f - fy), (1.0f - fx) * fy,
              fx * fy, out, channels);
        return;
    }
    const float *tap[4] = {ZEROS, ZEROS, ZEROS, ZEROS};
    float weight[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (x > -1.0f && y > -1.0f && x < (float)width && y < (float)height) { /* also false for NaN */
        const float x0 = floorf(x), y0 = floorf(y), fx = x - x0, fy = y - y0;
        const int ix = (int)x0, iy = (int)y0;
        const int inx[2] = {ix >= 0, ix + 1 < width}, iny[2] = {iy >= 0, iy + 1 < height};
        const float wx[2] = {1.0f - fx, fx}, wy[2] = {1.0f - fy, fy};
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                if (iny[a] && inx[b]) {
                    tap[2 * a + b] = src + (iy + a) * src_row + (ix + b) * src_px;
                    weight[2 * a + b] = wy[a] * wx[b];
                }
    }
    blend(tap[0], tap[1], tap[2], tap[3], weight[0], weight[1], weight[2], weight[3], out, channels);
}

/* Output row i of one image. */
ALWAYS_INLINE void warp_row(const b2v_warp_image *im, ptrdiff_t src_row, ptrdiff_t src_px, ptrdiff_t flow_row,
                            ptrdiff_t flow_px, ptrdiff_t flow_ch, ptrdiff_t dst_row, ptrdiff_t dst_px, int height,
                            int width, int channels, int i) {
    float *dst = im->dst + i * dst_row;
    if (im->flow) {
        const float *fl = im->flow + i * flow_row;
        for (int j = 0; j < width; j++)
            sample(im->src, src_row, src_px, height, width, (float)j + fl[j * flow_px],
                   (float)i + fl[j * flow_px + flow_ch], dst + j * dst_px, channels);
    } else {
        const float *t = im->theta;
        const float qy = (2.0f * i + 1.0f) / height - 1.0f;
        for (int j = 0; j < width; j++) {
            const float qx = (2.0f * j + 1.0f) / width - 1.0f;
            const float u = t[0] * qx + t[1] * qy + t[2], v = t[3] * qx + t[4] * qy + t[5];
            sample(im->src, src_row, src_px, height, width, ((u + 1.0f) * width - 1.0f) * 0.5f,
                   ((v + 1.0f) * height - 1.0f) * 0.5f, dst + j * dst_px, channels);
        }
    }
}

#define ROWS_CASE(C)                                                                                    \
    case C:                                                                                             \
        for (size_t r = begin; r < end; r++)                                                            \
            warp_row(&images[r / height], src_row, src_px, flow_row, flow_px, flow_ch, dst_row, dst_px, \
                     height, width, C, (int)(r % height));                                              \
        return;

/* Rows [begin, end) of all images together (row r is row r % height of image r / height); the
 * usual channel counts are literals so the blend vectorises fully. */
CLONES static void warp_rows(const b2v_warp_image *images, ptrdiff_t src_row, ptrdiff_t src_px, ptrdiff_t flow_row,
                             ptrdiff_t flow_px, ptrdiff_t flow_ch, ptrdiff_t dst_row, ptrdiff_t dst_px, int height,
                             int width, int channels, size_t begin, size_t end) {
    switch (channels) {
        ROWS_CASE(3) ROWS_CASE(12) ROWS_CASE(24) ROWS_CASE(48) ROWS_CASE(96)
        default:
            for (size_t r = begin; r < end; r++)
                warp_row(&images[r / height], src_row, src_px, flow_row, flow_px, flow_ch, dst_row, dst_px, height,
                         width, channels, (int)(r % height));
    }
}

/* Warp `count` images of height x width with `channels` channels (strides in floats, the same for
 * every image) on `threads` threads. Returns -1 (writing nothing) on sizes it cannot take, a
 * guard only: warp_cpu.py checks them first. */
int b2v_warp(const b2v_warp_image *images, int count, ptrdiff_t src_row, ptrdiff_t src_px, ptrdiff_t flow_row,
             ptrdiff_t flow_px, ptrdiff_t flow_ch, ptrdiff_t dst_row, ptrdiff_t dst_px, int height, int width,
             int channels, int threads) {
    if (count < 1 || height < 1 || width < 1 || channels < 1 || channels > MAX_CHANNELS || threads < 1) return -1;
    const size_t rows = (size_t)count * height;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    {
        const size_t t = omp_get_thread_num(), n = omp_get_num_threads();
        warp_rows(images, src_row, src_px, flow_row, flow_px, flow_ch, dst_row, dst_px, height, width, channels,
                  rows * t / n, rows * (t + 1) / n);
    }
#else
    warp_rows(images, src_row, src_px, flow_row, flow_px, flow_ch, dst_row, dst_px, height, width, channels, 0, rows);
#endif
    return 0;
}
