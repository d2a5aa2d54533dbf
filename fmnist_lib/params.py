"""A notebook's parameters, checked before anything starts: names against its parameters cell, values against Config
through the plan's own functions (as the notebook calls them), without torch, data or a kernel; and the runs the
notebook will read, so that make trains them in the terminal before papermill starts."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from .config import PROFILES


class ParameterError(ValueError):
    """A parameter name the notebook does not declare, or a value given the wrong way; the message says what is
    allowed."""


def declared(notebook: str | Path) -> dict[str, object]:
    """{name: default} of the notebook's parameters cell (literals, as papermill's docs ask)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    return {t.id: ast.literal_eval(node.value) for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def check_names(notebook: str | Path, params: dict, given_with_p: set[str] = frozenset()) -> dict[str, object]:
    """The notebook's parameters with `params` over its defaults; ParameterError for a name it does not declare,
    and for a list or mapping given with -p to a name it declares (then the advice is -y, which it accepts)."""
    defaults = declared(notebook)
    for name, value in params.items():
        if name not in defaults:
            raise ParameterError(f"unknown parameter {name!r} for {notebook}; allowed: {', '.join(defaults)}")
        if name in given_with_p and isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            raise ParameterError(f"-p {name} takes one value, not {value!r}; for lists and mappings use "
                                 f"-y '{name}: {value}'")
    if params.get("profile") is not None and params["profile"] not in PROFILES:
        raise ParameterError(f"profile={params['profile']!r} is not allowed; allowed: {', '.join(PROFILES)}")
    return defaults | params


def notebook_configs(notebook: str | Path, values: dict) -> list:
    """Every run the notebook reads for its parameter `values` (defaults filled in), built by the plan's functions as
    the notebook builds them, so a bad value raises the notebook's own ConfigError; [] where it trains nothing (the
    report) or where the profile is left to the kernel (profile None)."""
    from . import plan

    name, v, profile = Path(notebook).stem, values, values.get("profile")
    if profile is None or name not in ("autoencoder", "sweep", "comparison", "confusion"):
        return []
    if name == "autoencoder":
        groups = {"baseline": plan.baseline_configs(profile, "autoencoder", v["seeds"], epochs=v["epochs"], n=v["n"],
                                                    dropout=v["dropout"], lr=v["lr"])}
    elif name == "sweep":
        groups = plan.sweep_configs(v["sweep"], profile, v["values"], v["seeds"], v["overrides"])
    elif name == "comparison":
        groups = plan.arm_configs(profile, seeds=v["seeds"]) | plan.arm_configs(profile, plan.HEAD_ABLATION,
                                                                                 seeds=v["seeds"])
    else:
        groups = plan.arm_configs(profile, {k: plan.ARMS[k] for k in plan.STUDY_ARMS}, seeds=v["seeds"])
    cfgs = {c.key(): c for cs in groups.values() for c in cs}
    cfgs |= {c.autoencoder_config().key(): c.autoencoder_config() for c in list(cfgs.values()) if c.pretrained}
    return list(cfgs.values())
