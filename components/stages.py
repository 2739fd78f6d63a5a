"""Every stage's `StageSpec` (`components/common/stage_spec.py`), found where it is written: a
module-level `StageSpec` in `components/<package>/spec.py`. A new stage is a package with its
`spec.py`; nothing lists it a second time.

No kfp and no TensorFlow or torch: a spec imports its package's declaration and task module,
which import those only inside their functions.
"""

import importlib
import os
from functools import cache

from components.common.stage_spec import StageSpec

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@cache
def all_specs():
    """{stage name: StageSpec}, by package name, then as each spec.py writes them."""
    specs = {}
    for package in sorted(os.listdir(PACKAGE_DIR)):
        if not os.path.isfile(os.path.join(PACKAGE_DIR, package, "spec.py")):
            continue
        module = importlib.import_module(f"components.{package}.spec")
        for value in vars(module).values():
            if isinstance(value, StageSpec) and specs.get(value.name) is not value:
                if value.name in specs:
                    raise ValueError(f"two stages are named {value.name!r}")
                specs[value.name] = value
    return specs


def spec(name):
    return all_specs()[name]


@cache
def steps():
    """The pipeline's steps in their order (`StageSpec.order`), each reading only what the
    base model and the steps before it make."""
    ordered = sorted((s for s in all_specs().values() if s.order is not None),
                     key=lambda s: s.order)
    made = {"base_model"}
    for stage in ordered:
        missing = [name for name in stage.inputs() if name not in made]
        if missing:
            raise ValueError(f"step {stage.step_name} reads {', '.join(missing)}, which no "
                             "step before it makes: give it a larger order")
        made.update(stage.makes)
    return tuple(ordered)
