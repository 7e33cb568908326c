"""tests/packaging: release-quality checks (sanity, lint, docs, changelog, build/install, EE)."""
import sys
from pathlib import Path

# tests/support/packaging.py is imported as `support.packaging`, whichever rootdir pytest picked.
_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
