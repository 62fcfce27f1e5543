"""The ``seqlab`` command: ``seqlab <train|predict|compare|reproduce|study|ui> [Hydra arguments]``,
``seqlab --version``.

Each subcommand is the Hydra app of its entry point module (``seqlab.experiments.<name>``), with
the same overrides, ``-m`` sweeps, ``--help``, ``--cfg job`` and ``--hydra-help``. Shell
completion: ``eval "$(seqlab train --shell-completion install=bash)"`` completes the subcommand
and then the chosen app's overrides.
"""

import importlib
import importlib.metadata
import os
import sys

COMMANDS = {
    "train": "train a model (add -m for a sweep or an Optuna search)",
    "predict": "classify a split, a file (input=) or new texts with a logged run",
    "compare": "compare the runs of a sweep or an experiment",
    "reproduce": "train a logged run again and check every metric",
    "study": "run a study (configurations x data sets x seeds) and report it; study report: report again",
    "ui": "open the MLflow UI on the store runs go to (http://127.0.0.1:5000)",
}


def usage() -> str:
    """The command's help: one line per subcommand."""
    lines = [f"  {name:<10} {what}" for name, what in COMMANDS.items()]
    return "usage: seqlab <command> [overrides] [--help]\n\ncommands:\n" + "\n".join(lines) + "\n"


def _completion_query(argv: list[str]) -> str | None:
    """For a shell-completion query (``seqlab -sc query=bash``, the line in ``COMP_LINE``): the
    subcommand whose overrides to complete, with ``COMP_LINE`` rewritten as that app sees it.
    While the subcommand itself is being typed, print the matching ones and exit."""
    line = os.environ.get("COMP_LINE")
    if line is None or not any(a.startswith("query=") for a in argv):
        return None
    words = line.split()
    if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):
        prefix = words[1] if len(words) == 2 else ""
        print(" ".join(c for c in COMMANDS if c.startswith(prefix)))
        sys.exit(0)
    if words[1] not in COMMANDS:
        sys.exit(0)
    os.environ["COMP_LINE"] = line.replace(f" {words[1]}", "", 1)
    return words[1]


def main() -> None:
    """Run the subcommand named by the first argument."""
    argv = sys.argv[1:]
    command = _completion_query(argv)
    if command is not None:
        rest = argv
    elif argv and argv[0] in COMMANDS:
        command, rest = argv[0], argv[1:]
    elif argv[:1] in (["--version"], ["-V"]):
        print(f"seqlab {importlib.metadata.version('seqlab')}")
        sys.exit(0)
    elif argv[:1] in ([], ["--help"], ["-h"]):
        sys.stdout.write(usage())
        sys.exit(0)
    else:
        sys.stderr.write(f"seqlab: unknown command {argv[0]!r}; the commands are {', '.join(COMMANDS)}\n\n{usage()}")
        sys.exit(2)
    sys.argv = [sys.argv[0], *rest]
    importlib.import_module(f"seqlab.experiments.{command}").main()


if __name__ == "__main__":
    main()
