"""The run's progress on stderr: a tqdm bar when tqdm is installed (the ``bench`` extra), else a plain
line per scenario, so the suite also runs in the venv ``make run`` made."""

from __future__ import annotations

import importlib
import sys
from typing import Protocol

#: Optional packages of the ``bench`` extra and what the suite does without them.
OPTIONAL = {"tqdm": "no progress bar", "matplotlib": "no plots"}


class Progress(Protocol):
    def set_description(self, name: str) -> None: ...

    def set_postfix_str(self, label: str) -> None: ...

    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def missing_extras_line() -> str | None:
    """One line naming the optional packages that are absent, what that costs and how to add them."""
    missing = [name for name in OPTIONAL if not installed(name)]
    if not missing:
        return None
    costs = ", ".join(OPTIONAL[name] for name in missing)
    return (
        f"{' and '.join(missing)} not installed: {costs}"
        " (`make bench` installs them, or: pip install -e '.[bench]')"
    )


def progress(total: int) -> Progress:
    """A progress display for ``total`` scenarios; the caller closes it."""
    if not installed("tqdm"):
        return _Lines(total)
    from tqdm import tqdm

    return tqdm(total=total, unit="scenario", file=sys.stderr, dynamic_ncols=True)


def installed(name: str) -> bool:
    """Whether ``name`` imports (imported once; the suite uses it right after)."""
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise  # the package is there but broken: say so rather than run without it
        return False
    return True


class _Lines:
    """``[3/12] stream_20`` per scenario started; the per-run labels a bar shows are left out."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def set_description(self, name: str) -> None:
        print(f"[{self.done + 1}/{self.total}] {name}", file=sys.stderr, flush=True)

    def set_postfix_str(self, label: str) -> None:
        pass

    def update(self, n: int) -> None:
        self.done += n

    def close(self) -> None:
        pass
