"""Where every benchmark leaves its figures: bench/results/<name>[-<timestamp>].json, also printed."""

from __future__ import annotations

import json
import pathlib
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def write_results(name: str, results: dict, timestamped: bool = False) -> pathlib.Path:
    """Write ``results`` as JSON (timestamped names keep earlier runs), print them and the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{time.strftime('%Y%m%dT%H%M%S')}" if timestamped else name
    path = RESULTS / f"{stem}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {path}")
    return path
