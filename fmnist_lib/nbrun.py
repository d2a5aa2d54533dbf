"""Execute one parameterized notebook with papermill, refusing unknown parameter names.

`python -m fmnist_lib.nbrun IN.ipynb OUT.ipynb [-p NAME VALUE]... [-y YAML]... [-f FILE]... [--html] [--check]
[--custom ARGS...]` papermill itself only warns on an unknown name and saves a failed notebook; here the parameters
are checked first, names and values, in a second and without torch or a kernel (`--check` stops there;
fmnist_lib.params), then the runs the notebook reads are trained in this terminal, then papermill executes it. A
failure prints the failing cell's error on one line, Ctrl-C stops the kernel and its training processes with one
line, and OUT only ever holds a notebook that ran to the end (written beside OUT and renamed into place). `--html`
also renders OUT as a page beside it. The arguments after `--custom` are the user's (make's PARAMS): they may not set
a parameter given before it (the profile, the sweep); with any, the output is named after them
(custom/autoencoder--epochs-5.ipynb), so that a second custom run keeps the first.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config import NUMBER_TEXT, PROFILES, ConfigError
from .paths import runs_dir
from .plan import SWEEPS

# papermill, nbformat, jupyter_client and nbconvert are imported where a notebook runs: they take seconds to load, and
# a bad parameter is refused before that

KERNEL = "fmnist"
# What to say when the user's arguments set a parameter that make fixes.
FIXED_BY_MAKE = {
    "profile": "set the profile with PROFILE=NAME (make {target} PROFILE={example}); allowed: {profiles}",
    "sweep": "the target's name chooses the sweep (make sweep-NAME); allowed: {sweeps}",
}


class UsageError(ValueError):
    pass


class Loader(yaml.SafeLoader):
    """YAML as people write numbers: 1e-3 and 1E3 are floats (PyYAML follows YAML 1.1, whose floats need a dot and
    a signed exponent, and reads `1e-3` as the string '1e-3'); config.NUMBER_TEXT says what a number is."""


# after YAML's own resolvers, so an integer stays an int
Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(rf"^(?:{NUMBER_TEXT[float].pattern})$"),
                             list("-+0123456789."))


def load_yaml(text: str):
    return yaml.load(text, Loader=Loader)


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


@dataclass
class Job:
    notebook: str
    output: str
    params: dict
    fixed: dict = field(default_factory=dict)  # the parameters given before --custom
    custom: dict = field(default_factory=dict)  # the parameters given after --custom
    html: bool = False
    with_p: set = field(default_factory=set)  # names given with -p (a list there is advised to -y, if declared)
    check: bool = False  # --check: check the parameters, then stop


def parse_args(args: list[str]) -> Job:
    """The notebook, output, parameters and options from papermill-style arguments."""
    positional, fixed, custom, html, after_custom, with_p, check = [], {}, {}, False, False, set(), False
    it = iter(args)
    for a in it:
        try:
            if a in ("-p", "--parameters"):
                name, text = next(it), next(it)
                with_p.add(name)  # a list here is refused once the name is known to be the notebook's (params)
                given = {name: resolve_value(text)}
            elif a in ("-y", "--parameters_yaml"):
                given = load_yaml(next(it))
                if not isinstance(given, dict):
                    raise UsageError(f"-y expects a YAML mapping such as 'values: [1, 2]', got {given!r}")
            elif a in ("-f", "--parameters_file"):
                given = load_yaml(Path(next(it)).read_text()) or {}
            elif a == "--html":
                html = True
                continue
            elif a == "--check":
                check = True
                continue
            elif a == "--custom":
                after_custom = True
                continue
            elif a.startswith("-"):
                raise UsageError(f"unknown option {a!r}; allowed: -p NAME VALUE, -y YAML, -f FILE, --html, --check, "
                                 f"--custom")
            else:
                positional.append(a)
                continue
        except StopIteration:
            raise UsageError(f"option {a} is missing its value") from None
        (custom if after_custom else fixed).update(given)
    if len(positional) != 2:
        raise UsageError("usage: python -m fmnist_lib.nbrun IN.ipynb OUT.ipynb [-p NAME VALUE] [-y YAML] [-f FILE] "
                         "[--html] [--custom ARGS]")
    return Job(positional[0], positional[1], {**fixed, **custom}, fixed, custom, html, with_p, check)


def check_fixed(job: Job) -> None:
    """Refuse a user's (--custom) parameter that make already set, saying how to set it instead."""
    for name, value in job.custom.items():
        if name in job.fixed:
            hint = FIXED_BY_MAKE.get(name, "make sets it").format(
                target=Path(job.output).stem,
                example=value if isinstance(value, str) and value in PROFILES else "quick",
                profiles=", ".join(PROFILES), sweeps=", ".join(SWEEPS))
            raise UsageError(f"{name}={value!r} is not allowed in PARAMS; {hint}")


def check_injected(history: list[str]) -> None:
    """Inside a notebook: refuse parameter names that papermill injected but the parameters cell does not declare.

    `history` is IPython's `In`. papermill's injected cell starts with '# Parameters' and runs right after the
    notebook's own parameters cell; papermill itself only warns on such a name. With no injected cell
    (interactive use) this does nothing.
    """
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


def custom_name(stem: str, params: dict, limit: int = 120) -> str:
    """A file name stem naming a run's parameters, e.g. 'sweep-autoencoder-lr--values-0.001-0.003'."""
    def text(value) -> str:
        if isinstance(value, dict):
            return "-".join(f"{k}-{text(v)}" for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return "-".join(text(v) for v in value)
        return str(value)

    name = "--".join([stem] + [re.sub(r"[^A-Za-z0-9._-]+", "-", f"{k}-{text(v)}").strip("-")
                               for k, v in params.items()])
    if len(name) > limit:  # keep names short; the hash keeps two long ones apart
        name = f"{name[:limit - 9].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return name


def _kernel_manager_class(kernels: list):
    """A kernel manager class that appends each kernel it starts to `kernels`, so that Ctrl-C can stop them."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        """The kernel over IPC sockets in a private folder: no TCP port (so no "running over TCP without
        encryption" warning), and remembered so that Ctrl-C can stop its process group."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.folder = tempfile.mkdtemp(prefix="fmnist-kernel-")
            self.transport, self.ip = "ipc", os.path.join(self.folder, "ipc")
            self.connection_file = os.path.join(self.folder, "kernel.json")
            kernels.append(self)

        async def _async_interrupt_kernel(self):
            # jupyter_client 8 interrupts a kernel before its shutdown: "ERROR | KeyboardInterrupt caught in kernel."
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

    return IPCKernelManager


def _stop_kernels(kernels: list) -> None:
    """Kill the process group of each kernel in `kernels`: the kernel and its training processes (in a session of
    their own, the terminal's Ctrl-C reaches neither). A run killed mid-way leaves no partial cache entry."""
    for km in kernels:
        pgid = getattr(km.provisioner, "pgid", None)
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def run(notebook: str, output: str, params: dict, html: bool = False) -> None:
    """Execute `notebook` into `output` (written beside it and renamed into place), and its page with `html`."""
    import papermill as pm

    from .render import write_html

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part.ipynb")
    kernels = []  # the kernel managers this run started

    def on_interrupt(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the clean-up
        _stop_kernels(kernels)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        pm.execute_notebook(notebook, str(tmp), parameters=params, kernel_name=KERNEL,
                            kernel_manager_class=_kernel_manager_class(kernels),
                            cwd=str(Path(notebook).resolve().parent), progress_bar=True)
        name_injected_cell(tmp)
        if html:
            write_html(tmp, out.with_suffix(".html"))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        for km in kernels:
            shutil.rmtree(km.folder, ignore_errors=True)
        signal.signal(signal.SIGINT, previous)


def name_injected_cell(path: Path) -> None:
    """papermill gives the cell it injects a random id; name it after its tag instead, so the same notebook with the
    same parameters gives the same executed notebook and page."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    for cell in injected:
        cell.id = "injected-parameters"
    if injected:
        nbformat.write(nb, path)


def _execution_error():
    from papermill.exceptions import PapermillExecutionError

    return PapermillExecutionError


def main(argv=None) -> int:
    """Check the parameters (names, then values: --check stops there), train the runs the notebook reads in this
    terminal, then execute it."""
    from .params import ParameterError, check_names, notebook_configs

    notebook = output = "?"
    try:
        job = parse_args(list(sys.argv[1:] if argv is None else argv))
        notebook, output = job.notebook, job.output
        check_fixed(job)
        if job.custom:
            output = str(Path(output).with_name(custom_name(Path(output).stem, job.custom) + ".ipynb"))
        cfgs = notebook_configs(notebook, check_names(notebook, job.params, job.with_p))
        if job.check:
            return 0
        print(f"{notebook} -> {output}", flush=True)
        if cfgs:
            from .launch import ensure_runs  # trains what is missing, with the estimate and one bar, here

            ensure_runs(cfgs)
        run(notebook, output, job.params, job.html)
    except (UsageError, ParameterError, FileNotFoundError, yaml.YAMLError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"error: {notebook}: {exc}", file=sys.stderr)
        return 2
    except _execution_error() as exc:
        evalue = str(exc.evalue).splitlines()[0] if exc.evalue else ""
        print(f"error: {notebook} failed in cell {exc.exec_count}: {exc.ename}: {evalue}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {output} not written; runs that finished training stay in the run cache "
              f"{runs_dir()}; run the same command again to resume from them", file=sys.stderr)
        return 130
    print(f"wrote {output}" + (f" and {Path(output).with_suffix('.html')}" if job.html else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
