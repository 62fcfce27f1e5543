"""Where the project keeps its local outputs, resolved from the project root (never from the cwd)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"
RUNS_DIR = PROJECT_ROOT / "runs"
CACHE_DIR = RUNS_DIR / ".cache"
