#!/usr/bin/env python
"""Benchmark what opencode_provider does in process with a 1 MB opencode.json.

In one run, for this checkout and for an earlier commit (--against, default the commit before the
issue 13 speed-up), on the same generated 1 MB JSONC file (a commented provider map):

  floor      json.loads of the same text with its comments and trailing commas blanked (the
             stdlib's C decoder, no JSONC, no spans): the baseline of every ratio;
  merge      plan() of the file without our entry; in_sync: plan() of the file holding it;
  module     the merge plus the masked document the module returns (Masker.data, utf8_safe);
             module_in_sync: the same for the in-sync file;
  diff_mode  what diff mode adds: Masker.text of the file before and after;
  merge_comments_inside  the merge when every provider entry has a comment inside (the parser's
             slower path).

Each figure is the fastest of --rounds runs (the machine is shared with other jobs), in ms and as
a ratio to the floor measured in the same process. Target: merge and in_sync under 20 ms.
Writes bench/results/config_merge.json.

Usage: scripts/bench.sh config_merge [--rounds 15] [--against REV | --against ""]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULE_UTILS = "ansible_collections/omniroute/opencode/plugins/module_utils"
# The last commit before the parser, masking and plan speed-ups of issue 13.
BEFORE_SPEED_UP = "b6c48ea"
KEY = "bench-not-a-real-key"
MODELS = ["claude-sonnet-4-5", "gpt-5", "gemini-3-flash"]


def big_config(size=1_000_000, comment_inside=False):
    """A JSONC config of about ``size`` bytes: commented provider entries, trailing commas."""
    body = []
    index = 0
    length = 0
    while length < size:
        models = {"model-%d" % j: {"name": "Model %d // not a comment" % j, "limit": {"context": 200000, "output": 8192}}
                  for j in range(20)}
        provider = {"npm": "@ai-sdk/openai-compatible", "options": {"baseURL": "http://h%d/v1" % index}, "models": models}
        rendered = json.dumps(provider, indent=2).replace("\n", "\n    ")
        if comment_inside:
            rendered = rendered.replace('"npm"', '/* pinned */ "npm"', 1)
        body.append('    // provider %d\n    "p%d": %s,\n' % (index, index, rendered))
        length += len(body[-1])
        index += 1
    return '{\n  "$schema": "https://opencode.ai/config.json",\n  "provider": {\n' + "".join(body) + "  },\n}\n"


def fastest_ms(function, rounds):
    best = None
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best * 1000


def measure(rounds):
    """Figures for the module_utils importable from sys.path[0] (run in a child process)."""
    from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import parse, utf8_safe
    from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import build_entry, plan
    from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker

    text = big_config()
    commented = big_config(comment_inside=True)
    entry = build_entry("http://127.0.0.1:20128", api_key=KEY, models=MODELS)
    merged = plan(text, "omniroute", entry).after
    strict = _strict_json(merged)
    assert json.loads(strict) == parse(merged).value
    masker = Masker()

    def module(source):
        change = plan(source, "omniroute", entry)
        utf8_safe(masker.data(change.after_value))
        return change

    change = plan(text, "omniroute", entry)
    return {
        "bytes": len(merged.encode()),
        "floor_ms": fastest_ms(lambda: json.loads(strict), rounds),
        "merge_ms": fastest_ms(lambda: plan(text, "omniroute", entry), rounds),
        "in_sync_ms": fastest_ms(lambda: plan(merged, "omniroute", entry), rounds),
        "module_ms": fastest_ms(lambda: module(text), rounds),
        "module_in_sync_ms": fastest_ms(lambda: module(merged), rounds),
        "diff_mode_ms": fastest_ms(lambda: (masker.text(change.before), masker.text(change.after)), rounds),
        "merge_comments_inside_ms": fastest_ms(lambda: plan(commented, "omniroute", entry), rounds),
    }


def _strict_json(text):
    """``text`` with comments and trailing commas blanked: the same bytes for json.loads."""
    from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import _LEXEME

    pieces = []
    last = 0
    for match in re.finditer(_LEXEME, text):
        if text[match.start()] != '"':
            pieces += [text[last:match.start()], " " * (match.end() - match.start())]
            last = match.end()
    return "".join(pieces) + text[last:]


def measure_tree(root, rounds):
    """Run ``measure`` in a fresh interpreter that imports the collection from ``root``."""
    output = subprocess.run([sys.executable, __file__, "--measure", str(root), "--rounds", str(rounds)],
                            check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output)


def measure_commit(revision, rounds):
    """The same figures for the module_utils of an earlier commit, or None without git history."""
    with tempfile.TemporaryDirectory(prefix="bench-config-merge-") as root:
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", revision, MODULE_UTILS],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if archive.returncode != 0:
            return None
        subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
        for package in ("ansible_collections", "ansible_collections/omniroute", "ansible_collections/omniroute/opencode",
                        "ansible_collections/omniroute/opencode/plugins", MODULE_UTILS):
            (pathlib.Path(root) / package / "__init__.py").touch()
        return measure_tree(root, rounds)


def with_ratios(figures):
    floor = figures["floor_ms"]
    return dict(figures, ratios_to_floor={name[:-3]: round(value / floor, 2)
                                          for name, value in figures.items() if name.endswith("_ms") and name != "floor_ms"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--against", default=BEFORE_SPEED_UP, help="an earlier commit to measure in the same run")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, args.measure)
        print(json.dumps(measure(args.rounds)))
        return

    sys.path.insert(0, str(REPO_ROOT))
    from _results import write_results

    now = with_ratios(measure_tree(REPO_ROOT, args.rounds))
    report = {"rounds": args.rounds, "this_checkout": now,
              "targets_met": {"merge_under_20ms": now["merge_ms"] < 20, "in_sync_under_20ms": now["in_sync_ms"] < 20}}
    before = measure_commit(args.against, args.rounds) if args.against else None
    if before is not None:
        before = with_ratios(before)
        report["before"] = dict(before, commit=args.against)
        report["speed_up_vs_before"] = {name[:-3]: round(before[name] / now[name], 2)
                                        for name in now if name.endswith("_ms") and name != "floor_ms"}
    write_results("config_merge", report)


if __name__ == "__main__":
    main()
