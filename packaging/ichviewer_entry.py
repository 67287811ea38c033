"""Entry point of the frozen app: the same ``main`` as the ``ichviewer`` console script."""

from __future__ import annotations

import multiprocessing

from ichviewer.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless when no worker process is ever started
    raise SystemExit(main())
