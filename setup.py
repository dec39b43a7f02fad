"""Builds the optional C kernels: the one-pass averaging (blur2video/synth/_mean_u8.c) and the
dense blocks' one-pass accumulation and transition (blur2video/model/_dense_cpu.c). They are
optional: without a C compiler the install still succeeds and their callers fall back to torch."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "blur2video.synth._mean_u8",
            ["src/blur2video/synth/_mean_u8.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "blur2video.model._dense_cpu",
            ["src/blur2video/model/_dense_cpu.c"],
            extra_compile_args=["-O3", "-fopenmp"],
            extra_link_args=["-fopenmp"],  # binds to the libgomp torch has loaded (see the .c file)
            optional=True,
        ),
    ]
)
