"""Join DATASET folders that sit under one folder's ``parts/`` into that folder, as one DATASET
(docs/data.md): its index lists every part's samples with paths through ``parts/NAME/``, and its
dataset.json keeps each part's header. Used to mix blur sizes for the kernel-bank head.

    python experiments/merge_datasets.py /work/runs/bankdata/mix
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def merge(root: Path) -> int:
    parts = sorted(p for p in (root / "parts").iterdir() if (p / "index.jsonl").is_file())
    headers = {p.name: json.loads((p / "dataset.json").read_text()) for p in parts}
    frames = {h["frames"] for h in headers.values()}
    if len(frames) != 1:
        raise SystemExit(f"{root}: the parts restore different N ({sorted(frames)})")
    lines = []
    for p in parts:
        for line in (p / "index.jsonl").read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            prefix = f"parts/{p.name}/"
            rec["id"] = len(lines)
            rec["blur"] = prefix + rec["blur"]
            rec["frames"] = [prefix + f for f in rec["frames"]]
            rec.setdefault("meta", {})["part"] = p.name
            lines.append(json.dumps(rec))
    header = {"version": 1, "kind": "merged", "frames": frames.pop(), "parts": headers}
    (root / "dataset.json").write_text(json.dumps(header, indent=1))
    (root / "index.jsonl").write_text("\n".join(lines) + "\n")
    return len(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path)
    print(f"{merge(ap.parse_args().root)} samples")
