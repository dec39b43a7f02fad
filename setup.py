"""Builds the optional one-pass averaging kernel (blur2video/synth/_mean_u8.c). It is optional:
without a C compiler the install still succeeds and the averaging falls back to torch."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "blur2video.synth._mean_u8",
            ["src/blur2video/synth/_mean_u8.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
