"""Where test processes log and tests leave their figures: var/test-logs/ (ignored by git)."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "test-logs"


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file ("" while it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def write_figures(name: str, figures: dict, *, show: bool = True) -> dict:
    """Write `figures` to var/test-logs/<name>.json (and print them, for `pytest -s`); returns them."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / f"{name}.json"
    text = json.dumps(figures, indent=2, default=str)
    path.write_text(text + "\n")
    if show:
        print(f"\n{name} figures ({path}):\n{text}")
    return figures
