"""Make the checkout importable as ``ansible_collections.omniroute.opencode`` for unit tests."""

import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
