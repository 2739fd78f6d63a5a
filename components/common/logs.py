"""Logging and progress bars that read well both in a terminal and in a KFP pod log."""

import logging
import os
import sys

from tqdm import tqdm


def setup_logging(level=None):
    """Log to stderr with timestamps; `EDU_MLM_LOG_LEVEL=DEBUG` shows tracebacks of user errors."""
    level = level or os.environ.get("EDU_MLM_LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def progress(iterable=None, total=None, desc=None, unit="it"):
    """A tqdm bar on stderr; in a pod (no TTY) it prints a line every 30 s instead of redrawing."""
    interactive = sys.stderr.isatty()
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        mininterval=0.5 if interactive else 30.0,
        dynamic_ncols=interactive,
        disable=os.environ.get("EDU_MLM_NO_PROGRESS") == "1",
    )
