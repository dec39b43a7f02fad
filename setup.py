"""Builds the optional C kernels: the one-pass averaging (blur2video/synth/_mean_u8.c), the dense
blocks' one-pass accumulation and transition (blur2video/model/_dense_cpu.c) and the
transformers' one-pass warps (blur2video/geometry/_warp_cpu.c). They are optional: without a C
compiler the install still succeeds and their callers fall back to torch."""

from setuptools import Extension, setup


def kernel(name: str, openmp: bool = False) -> Extension:
    """blur2video.<name> from src/blur2video/<name>.c. With OpenMP the library names libgomp.so.1,
    which binds to the one torch has already loaded (see model/_dense_cpu.c)."""
    flags = ["-fopenmp"] if openmp else []
    source = f"src/blur2video/{name.replace('.', '/')}.c"
    header = "src/blur2video/_kernels.h"  # shared macros; a change to it rebuilds every kernel
    return Extension(
        f"blur2video.{name}",
        [source],
        depends=[header],
        extra_compile_args=["-O3", *flags],
        extra_link_args=flags,
        optional=True,
    )


setup(
    ext_modules=[
        kernel("synth._mean_u8"),
        kernel("model._dense_cpu", openmp=True),
        kernel("geometry._warp_cpu", openmp=True),
    ]
)
