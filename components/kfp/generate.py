"""Write each stage's KFP components as a Python file, from its spec (`make generate`).

KFP ships a lightweight component as its function's source and reads its interface from the
function's signature, so the signature must be real Python with the parameters' types and
defaults. They are written here from the stage's `StageSpec` (`components/<package>/spec.py`)
and the declarations it names, into `components/kfp/generated/<stage>.py`: files a reader can
open, grep and step into, that tracebacks point to, and that pipeline.yaml shows for each task.
Each function's body is the one place where a task's run values become its stage's arguments
(`Arguments.from_run_values`), then one call of the stage's plain task function, which is what
the tests call; the stage's heavy imports (TensorFlow, torch) live inside that function, so
building the pipeline imports neither. tests/test_structure.py fails while a committed file
differs from what this writes.

    python -m components.kfp.generate [--output_dir DIR]
"""

import argparse
import json
import os
import textwrap

from components import stages
from components.common.arguments import REQUIRED
from components.common.stage_spec import ARTIFACT_KINDS

GENERATED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated")
PARAMETER_TYPES = (str, int, float, bool, list, dict)
INDENT = "    "


def _kind(kind, where):
    inner = kind.removeprefix("List[").removesuffix("]")
    if inner not in ARTIFACT_KINDS:
        raise ValueError(f"{where}: {kind!r} is no artifact kind ({', '.join(ARTIFACT_KINDS)})")
    return f"list[{inner}]" if inner != kind else kind, inner


def _isort_key(name):
    """isort's order (ruff's `I` rule): CONSTANTS, then Classes."""
    return not name.isupper(), name


def _literal(value):
    """A default as Python source, strings in double quotes like the rest of the code."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def _type(param, where):
    if param.type not in PARAMETER_TYPES:
        raise ValueError(f"{where}: a KFP parameter cannot be {param.type!r}")
    return param.type.__name__


def _signature(task, kinds):
    """The component's arguments: artifacts first, then parameters, those without a default
    before those with one (Python's rule), each group in the spec's order."""
    lines = []
    for direction, artifacts in (("Input", task.inputs), ("Output", task.outputs)):
        for name, kind in artifacts.items():
            annotation, inner = _kind(kind, f"{task.name}.{name}")
            kinds.add(inner)
            lines.append(f"{name}: {direction}[{annotation}]")
    params = [*task.run_values(), *task.settings, *task.wired]
    required = [p for p in params if p.default is REQUIRED]
    for param in required + [p for p in params if p.default is not REQUIRED]:
        text = f"{param.name}: {_type(param, f'{task.name}.{param.name}')}"
        lines.append(text if param.default is REQUIRED else f"{text} = {_literal(param.default)}")
    return lines


def _body(task):
    """Import the task function (and the declaration); build `args` once and call the task,
    recording a UserError for a local runner."""
    lines, module = [], task.run.__module__
    if task.arguments is not None:
        lines.append(f"from {task.arguments.__module__} import {task.arguments.__name__}")
    lines += [f"from {module} import {task.run.__name__}", ""]
    call = [*task.inputs, *task.outputs]
    if task.arguments is not None:
        values = [f"{INDENT}{name}={name}," for name in task.field_names()]
        build = [f"{task.arguments.__name__}.from_run_values(" + ("" if values else ")"),
                 *values, *([")"] if values else [])]
        if task.skip:
            lines += [f"# {task.skip.field} {task.skip.value!r}: the run skips this stage.",
                      "args = None",
                      f"if {task.skip.field} != {task.skip.value!r}:",
                      *(INDENT + line for line in [f"args = {build[0]}", *build[1:]])]
        else:
            lines += [f"args = {build[0]}", *build[1:]]
        call.append("args")
    keywords = [p.name for p in task.run_values() if p.name not in task.field_names()]
    call += [f"{name}={name}" for name in [*keywords, *(p.name for p in task.settings),
                                            *(p.name for p in task.wired)]]
    result = "return " if task.returns else ""
    lines += [f"{result}{task.run.__name__}(", *(f"{INDENT}{item}," for item in call), ")"]
    imports = lines.index("")
    # The step's one error line where a local runner reads it (`recording_step_error`).
    return [*sorted(["from components.common.errors import recording_step_error",
                     *lines[:imports]], key=lambda line: line.split()[1]), "",
            "with recording_step_error():",
            *(INDENT + line if line else "" for line in lines[imports + 1:])]


def _function(spec, task, name, kinds):
    if task.returns is not None and task.returns not in PARAMETER_TYPES:
        raise ValueError(f"{name}: a KFP component cannot return {task.returns!r}")
    returns = f" -> {task.returns.__name__}" if task.returns else ""
    doc = textwrap.fill(task.doc, width=96, initial_indent=INDENT + '"""',
                        subsequent_indent=INDENT) + '"""'
    return "\n".join([
        f"@dsl.component(base_image=image({_literal(spec.name)}), install_kfp_package=False)",
        f"def {name}(",
        *(f"{INDENT}{line}," for line in _signature(task, kinds)),
        f"){returns}:",
        doc,
        *(INDENT + line if line else "" for line in _body(task)),
    ])


def render(spec):
    """The source of `components/kfp/generated/<spec.name>.py`."""
    kinds = set()
    functions = [_function(spec, task, name, kinds) for task in spec.tasks for name in task.names]
    directions = ({"Input"} if any(t.inputs for t in spec.tasks) else set()) \
        | ({"Output"} if any(t.outputs for t in spec.tasks) else set())
    header = textwrap.fill(
        f"KFP components of the {spec.name} stage, written by `make generate` from "
        f"components/{spec.package}/spec.py and the declarations it names: edit those, not "
        "this file.", width=96)
    return "\n".join([
        f'"""{header}"""',
        "",
        "from kfp import dsl",
        *([f"from kfp.dsl import {', '.join(sorted(kinds | directions, key=_isort_key))}"]
          if kinds else []),
        "",
        "from components.images import image",
        "", "",
        "\n\n\n".join(functions),
    ]) + "\n"


def write_all(directory=GENERATED_DIR):
    """Write every stage's file (and the package's __init__.py) into `directory`; returns the
    file names."""
    os.makedirs(directory, exist_ok=True)
    files = {"__init__.py": '"""One module of KFP components per stage, written by `make '
                           'generate`\n(components/kfp/generate.py)."""\n'}
    files.update({f"{name}.py": render(spec) for name, spec in stages.all_specs().items()})
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py") and name not in files:
            os.remove(os.path.join(directory, name))  # a stage that went
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
    return sorted(files)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m components.kfp.generate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default=GENERATED_DIR,
                        help="where to write the files (default: components/kfp/generated)")
    args = parser.parse_args(argv)
    for name in write_all(args.output_dir):
        print(os.path.join(args.output_dir, name))


if __name__ == "__main__":
    main()
