/* What the optional C kernels (synth/_mean_u8.c, model/_dense_cpu.c, geometry/_warp_cpu.c) share:
 * forced inlining, restrict, and one function body compiled for AVX-512, AVX2 and baseline x86-64
 * with the best picked at load time, so a wheel built here runs on any x86-64 CPU. */
#ifndef BLUR2VIDEO_KERNELS_H
#define BLUR2VIDEO_KERNELS_H

#if defined(__GNUC__)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define RESTRICT __restrict__
#else
#define ALWAYS_INLINE static __forceinline
#define RESTRICT __restrict
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define CLONES
#endif

#endif
