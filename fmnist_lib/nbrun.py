"""Execute one parameterized notebook with papermill, refusing unknown parameter names.

`python -m fmnist_lib.nbrun IN.ipynb OUT.ipynb [-p NAME VALUE]... [-y YAML]... [-f FILE]...`
papermill itself only warns on an unknown name and saves a failed notebook; here an unknown name stops
before anything runs, a failure prints the failing cell's error on one line, and OUT only ever holds a
notebook that ran to the end (it is written beside OUT and renamed into place).
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import yaml

KERNEL = "fmnist"


class UsageError(ValueError):
    pass


def resolve_value(text: str):
    """papermill's `-p` typing: True/False/None, then int, then float, else the string itself."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_args(args: list[str]) -> tuple[str, str, dict]:
    """(input, output, parameters) from papermill-style arguments."""
    positional, params = [], {}
    it = iter(args)
    for a in it:
        try:
            if a in ("-p", "--parameters"):
                name = next(it)
                params[name] = resolve_value(next(it))
            elif a in ("-y", "--parameters_yaml"):
                loaded = yaml.safe_load(next(it))
                if not isinstance(loaded, dict):
                    raise UsageError(f"-y expects a YAML mapping such as 'values: [1, 2]', got {loaded!r}")
                params.update(loaded)
            elif a in ("-f", "--parameters_file"):
                params.update(yaml.safe_load(Path(next(it)).read_text()) or {})
            elif a.startswith("-"):
                raise UsageError(f"unknown option {a!r}; allowed: -p NAME VALUE, -y YAML, -f FILE")
            else:
                positional.append(a)
        except StopIteration:
            raise UsageError(f"option {a} is missing its value") from None
    if len(positional) != 2:
        raise UsageError("usage: python -m fmnist_lib.nbrun IN.ipynb OUT.ipynb [-p NAME VALUE] [-y YAML] [-f FILE]")
    return positional[0], positional[1], params


def check_parameters(notebook: str, params: dict) -> None:
    """Raise UsageError naming the first parameter the notebook does not declare."""
    import papermill as pm

    declared = list(pm.inspect_notebook(notebook))
    for name in params:
        if name not in declared:
            raise UsageError(f"unknown parameter {name!r} for {notebook}; allowed: {', '.join(declared)}")


def check_injected(history: list[str]) -> None:
    """Inside a notebook: refuse parameter names that papermill injected but the parameters cell does not declare.

    `history` is IPython's `In`. papermill's injected cell starts with '# Parameters' and runs right after the
    notebook's own parameters cell; papermill itself only warns on such a name. With no injected cell
    (interactive use) this does nothing.
    """
    from .config import ConfigError

    cells = [c for c in history if c.strip()]
    for before, cell in zip(cells, cells[1:]):
        if cell.startswith("# Parameters\n"):
            declared = _assigned(before)
            for name in _assigned(cell):
                if name not in declared:
                    raise ConfigError(f"unknown parameter {name!r}; allowed: {', '.join(declared)}")


def _assigned(source: str) -> list[str]:
    return [t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def run(notebook: str, output: str, params: dict) -> None:
    import papermill as pm

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part.ipynb")
    try:
        pm.execute_notebook(notebook, str(tmp), parameters=params, kernel_name=KERNEL,
                            cwd=str(Path(notebook).resolve().parent), progress_bar=True)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv=None) -> int:
    from papermill.exceptions import PapermillExecutionError

    try:
        notebook, output, params = parse_args(list(sys.argv[1:] if argv is None else argv))
        check_parameters(notebook, params)
        run(notebook, output, params)
    except (UsageError, FileNotFoundError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PapermillExecutionError as exc:
        evalue = str(exc.evalue).splitlines()[0] if exc.evalue else ""
        print(f"error: {notebook} failed in cell {exc.exec_count}: {exc.ename}: {evalue}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
