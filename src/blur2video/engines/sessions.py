"""Open an exported graph on a maintained engine: a function from named numpy inputs to the
outputs in the graph's order. Both engines are optional packages (``pip install
'blur2video[engines]'``), imported only here and only when asked for."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import Blur2VideoError

Session = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


def installed(engine: str) -> bool:
    return importlib.util.find_spec(PACKAGES[engine]) is not None


def require(engine: str) -> None:
    """One line naming the fix when ``engine``'s package is missing."""
    if not installed(engine):
        raise Blur2VideoError(
            f"--backend {engine}: the {PACKAGES[engine]} package is not installed; "
            "pip install 'blur2video[engines]' or use --backend torch"
        )


def open_onnxruntime(path: Path, threads: int) -> Session:
    """An ONNX Runtime CPU session of ``path`` on ``threads`` threads, every graph optimisation on."""
    require("onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # its warnings name internal nodes, nothing a user can act on
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda inputs: session.run(None, inputs)


def open_openvino(path: Path, threads: int, cache: Path | None = None) -> Session:
    """An OpenVINO CPU model of ``path`` on ``threads`` threads in float32 (on CPUs with bfloat16
    units it would otherwise compute in bfloat16), its compiled form kept in ``cache``."""
    core = _openvino_core()
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        core.set_property({"CACHE_DIR": str(cache)})
    compiled = core.compile_model(
        str(path),
        "CPU",
        {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"},
    )
    request = compiled.create_infer_request()

    def run(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = request.infer(inputs)
        return [results[output] for output in compiled.outputs]

    return run


@cache
def _openvino_core() -> object:
    """One OpenVINO Core for the process. Its CPU plugin installs a signal stack on the calling
    thread while a model is compiled and puts back the one it found when the model goes; with a Core
    per model, models freed out of order left the thread on an unmapped stack, and the next signal
    (a child process ending) killed the process with SIGSEGV. One Core keeps one plugin, whose
    stack lives as long as the process."""
    require("openvino")
    import openvino as ov

    return ov.Core()
