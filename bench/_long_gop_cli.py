"""The CLI of this tree with another sampling plan for long-GOP files: bench/long_gop.py only.

    LONG_GOP_BENCH_PLAN=6 python bench/_long_gop_cli.py --library L scan FOLDER

``LONG_GOP_BENCH_PLAN`` is read here and nowhere in the product: a number replaces
``app.core.indexing.media.MAX_GAP``; ``keyframes`` samples long clips (those where
MAX_GAP binds, 60 s and longer) at their keyframes only, with no forward fills. Unset,
the product's own plan runs.

The patch is made when this module is imported, not under ``__main__``: the decode
workers fork from a forkserver that imports this file as the main module (as
``__mp_main__``), so they run the same plan as the process that started them.
"""

from __future__ import annotations

import math
import os
import sys

PLAN_VARIABLE = "LONG_GOP_BENCH_PLAN"


def apply_plan(value: str | None) -> None:
    """Patch ``media`` for the plan named ``value`` (None or "": the product's own)."""
    if not value:
        return
    from app.core.indexing import media
    if value == "keyframes":
        own = media.default_max_gap

        def keyframes_only(duration: float) -> float:
            # Where MAX_GAP binds (a twelfth of the clip reaches it), no gap is filled.
            return math.inf if duration / 12 >= media.MAX_GAP else own(duration)

        media.default_max_gap = keyframes_only
    else:
        media.MAX_GAP = float(value)


apply_plan(os.environ.get(PLAN_VARIABLE))

if __name__ == "__main__":
    from app.cli import main
    sys.exit(main(sys.argv[1:]))
