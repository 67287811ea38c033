"""Entry point of ``python -m training``."""

from __future__ import annotations

from training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
