"""Send a workflow step's output (prints, warnings, tqdm, tracebacks) to its Snakemake log file."""
from __future__ import annotations

import contextlib
import logging
import traceback
from pathlib import Path


@contextlib.contextmanager
def logging_to(path: str):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", buffering=1) as fh, \
            contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        try:
            yield
        except BaseException:
            traceback.print_exc(file=fh)
            raise
        finally:
            logging.getLogger().removeHandler(handler)
