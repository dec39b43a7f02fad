"""scripts/paper_results.py's verdicts: an ordering of the paper's Table 5 holds only where every
step gains more than the seeds' spread; a step that loses by more contradicts it; the rest is
left unresolved rather than called either way."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "paper_results.py"


def _orderings():
    spec = importlib.util.spec_from_file_location("paper_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.orderings


def _table(means: dict[str, float], sd: float) -> dict:
    return {"variants": {name: {"psnr_mean": m, "psnr_sd": sd} for name, m in means.items()}}


def _verdict(lines: list[str], what: str) -> str:
    line = next(line for line in lines if line.startswith(f"- **{what}**"))
    return line.split("**: ", 1)[1].split(".", 1)[0]


def test_an_ordering_holds_only_beyond_the_seeds_spread() -> None:
    orderings = _orderings()
    chain = "PML < PML TCL < PML TCL PT (full)"
    assert _verdict(orderings(_table({"pml": 25.0, "pml-tcl": 25.5, "full": 26.0}, 0.1)), chain) == "holds"
    unresolved = _verdict(orderings(_table({"pml": 25.0, "pml-tcl": 25.5, "full": 25.55}, 0.1)), chain)
    assert unresolved.startswith("not resolved")
    assert _verdict(orderings(_table({"pml": 25.0, "pml-tcl": 24.0, "full": 26.0}, 0.1)), chain) == "does not hold"
    # orderings whose variants were not run are left out, not guessed
    assert [line for line in orderings(_table({"pml": 25.0, "full": 26.0}, 0.1)) if "PML TCL" in line] == []
