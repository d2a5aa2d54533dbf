import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pinned = {_name(r) for r in pip if not r.startswith("-e")}
    assert conda | pinned == wanted
    assert "-e ." in pip


def test_torch_pins_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    for pkg in ("torch", "torchvision"):
        assert [r for r in project if _name(r) == pkg] == [r for r in pip if _name(r) == pkg]


def constraints() -> dict[str, str]:
    """constraints.txt as {package: version}."""
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return dict((_name(n), v) for n, _, v in (line.partition("==") for line in lines if "==" in line))


def test_constraints_pin_torch_as_pyproject_does_and_every_provenance_package():
    from fmnist_lib.provenance import PACKAGES

    pinned = constraints()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for pkg in ("torch", "torchvision"):
        assert [r for r in project if _name(r) == pkg] == [f"{pkg}=={pinned[pkg]}"]
    assert set(PACKAGES) - {"fmnist_lib"} <= set(pinned), set(PACKAGES) - {"fmnist_lib"} - set(pinned)


def test_the_environment_holds_the_pinned_rendering_stack():
    """`make setup` installs from constraints.txt: what renders the published pages is what the lock names (an
    environment of one's own, VENV=..., may differ; then make report leaves the published pages alone unless their
    runs or code change)."""
    import sys
    from importlib.metadata import version

    from fmnist_lib.provenance import PACKAGES

    if (ROOT / ".venv").resolve() != Path(sys.prefix).resolve():
        pytest.skip("not the project's .venv")
    pinned = constraints()
    differ = {p: (version(p), pinned[p]) for p in PACKAGES if p != "fmnist_lib" and version(p) != pinned[p]}
    assert not differ, f"installed (left) differs from constraints.txt (right): {differ}; run make setup"


def as_committed(path) -> str:
    """A notebook's text as `git add` stores it: through the nbstripout filter where this clone has it (`make setup`
    installs it), else as it is on disk."""
    text = path.read_text()
    git = dict(cwd=ROOT, capture_output=True, text=True)
    try:
        attr = subprocess.run(["git", "check-attr", "filter", "--", str(path)], **git).stdout
        clean = subprocess.run(["git", "config", "--get", "filter.nbstripout.clean"], **git).stdout.strip()
    except FileNotFoundError:  # no git
        return text
    if attr.strip().endswith(": nbstripout") and clean:
        return subprocess.run(clean, shell=True, input=text, check=True, **git).stdout
    return text


def test_notebooks_are_committed_clean():
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.reads(as_committed(path), as_version=4)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert sum("parameters" in t for t in tags) == 1, path
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{path.relative_to(ROOT)} holds outputs (saved from Jupyter?): run `make setup`, which makes "
                    f"`git add` strip them (nbstripout as this clone's git filter), or strip them now: "
                    f"`.venv/bin/nbstripout --keep-id {path.relative_to(ROOT)}`")
                assert not re.search(r"^\s*(async\s+def|def|class)\s", cell.source, re.M), path  # not `per_class = `
                assert ".backward(" not in cell.source and "torch.optim" not in cell.source, path
