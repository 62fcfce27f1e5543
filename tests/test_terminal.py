"""What the terminal shows: log lines above the live bar (never on its line), a last line that
names the kept epoch; ``seqlab --version``, an unknown command, ``seqlab ui``."""

import io
import logging
import re
import subprocess
import sys

import pytest
from rich.console import Console

from seqlab.experiments import terminal
from seqlab.experiments.training.runner import train
from tests.conftest import compose_config, run_cli
from tests.servers import free_port, wait_until_serving

CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after ``raw``: text, ``\\n``, ``\\r``, erase-line and
    cursor-up applied, other escape sequences (colours, cursor visibility) dropped."""
    lines, row, column, i = [""], 0, 0, 0
    while i < len(raw):
        control = CONTROL.match(raw, i)
        if control:
            value, code = control.groups()
            if code == "K":
                lines[row] = ""
            elif code == "A":
                row = max(0, row - int(value or 1))
            i = control.end()
            continue
        char = raw[i]
        if char == "\n":
            row, column = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif char == "\r":
            column = 0
        else:
            line = lines[row].ljust(column)
            lines[row] = line[:column] + char + line[column + 1 :]
            column += 1
        i += 1
    return lines


def test_log_lines_never_land_on_the_bar_and_the_last_line_names_the_kept_epoch(store_overrides, monkeypatch):
    console = Console(record=True, force_terminal=True, width=400, file=io.StringIO())
    monkeypatch.setattr(terminal, "CONSOLE", console)
    handler, root = terminal.log_handler(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        metrics = train(
            compose_config(
                store_overrides
                + ["data.train_size=4000", "trainer.batch_size=16", "trainer.epochs=4", "trainer.patience=2"]
                + ["trainer.progress=true"]
            )
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    raw = console.file.getvalue()
    assert "━" in raw and "epoch 1/4" in raw, "the bar was drawn"
    shown = [line.rstrip() for line in screen(raw) if line.strip()]
    logged = [line for line in shown if "INFO" in line]
    assert not [line for line in shown if "━" in line], "the transient bar is gone at the end"
    for epoch in range(1, metrics["best_epoch"] + 1):
        assert any(
            re.search(rf"INFO +epoch {epoch}/4  train_loss=\d\.\d{{4}}  train_accuracy=", line) for line in logged
        )
    assert re.search(rf"stopped at epoch \d/4 \(.*\); kept epoch {metrics['best_epoch']} \(val_loss=", shown[-1])
    assert logged[-1] == shown[-1], "the run's last line is its summary"


def test_version_and_an_unknown_command():
    version = subprocess.run([sys.executable, "-m", "seqlab", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and re.fullmatch(r"seqlab \d+\.\d+\.\d+\S*\n", version.stdout)
    unknown = subprocess.run([sys.executable, "-m", "seqlab", "trian"], capture_output=True, text=True)
    assert unknown.returncode == 2
    assert "unknown command 'trian'; the commands are train, predict, compare, reproduce, study, ui" in unknown.stderr


@pytest.mark.slow
def test_seqlab_ui_serves_the_store(store, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "seqlab", "ui", f"port={port}", f"tracking.uri={store['uri']}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", server, "seqlab ui")
    finally:
        server.terminate()
        output = server.communicate(timeout=60)[0]
    assert f"MLflow UI of {store['uri']} at http://127.0.0.1:{port}" in output
    assert run_cli("seqlab", "ui", "port=0").returncode == 2, "port 0 is refused by the schema"
