"""KFP components whose parameters come from the declarations (`common/arguments.py`).

KFP ships a lightweight component as its function's source and reads its interface from the
function's signature, so the signature must be real Python with the parameters' types and
defaults. `component()` writes that function from the declared `Param`s: its body is one call to
a plain task function of the stage (`run(**arguments)`), which is what the tests call. The stage's
heavy imports (TensorFlow, torch) live inside that task function, so building the pipeline
imports neither. The generated source is what pipeline.yaml shows for the task.
"""

import linecache

from kfp import dsl

from components.common.arguments import REQUIRED
from components.images import image

# What a generated signature may name; KFP's runtime preamble imports the same names.
ARTIFACT_TYPES = {cls.__name__: cls for cls in (dsl.Artifact, dsl.Dataset, dsl.Model,
                                                dsl.Metrics, dsl.HTML, dsl.Markdown)}
PARAMETER_TYPES = (str, int, float, bool, list, dict)


def _annotation(kind, direction=None):
    if direction:
        inner = f"List[{kind[0].__name__}]" if isinstance(kind, list) else kind.__name__
        return f"{direction}[{inner}]"
    if kind not in PARAMETER_TYPES:
        raise TypeError(f"a KFP parameter cannot be {kind!r}")
    return kind.__name__


def component(name, run, stage, params, inputs=None, outputs=None, returns=None, doc=""):
    """A KFP component `name(inputs…, outputs…, params…)` running in `stage`'s image whose body
    calls `run(**arguments)` with every argument it was given.

    inputs/outputs: {argument: artifact class, or [artifact class] for a list}; params: `Param`s
    (their types and defaults become the signature's; REQUIRED ones first); returns: a parameter
    type to return.
    """
    arguments = [f"{n}: {_annotation(k, 'Input')}" for n, k in (inputs or {}).items()]
    arguments += [f"{n}: {_annotation(k, 'Output')}" for n, k in (outputs or {}).items()]
    arguments += [f"{p.name}: {_annotation(p.type)}"
                  + ("" if p.default is REQUIRED else f" = {p.default!r}") for p in params]
    result = f" -> {returns.__name__}" if returns else ""
    body = "return " if returns else ""
    source = (f"def {name}(\n" + "".join(f"    {a},\n" for a in arguments) + f"){result}:\n"
              f'    """{doc}"""\n'
              f"    arguments = dict(locals())\n"
              f"    from {run.__module__} import {run.__name__}\n\n"
              f"    {body}{run.__name__}(**arguments)\n")
    filename = f"<edu-mlm component {name}>"
    # inspect.getsource (which KFP calls) reads generated code from linecache.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"List": list, "Input": dsl.Input, "Output": dsl.Output, **ARTIFACT_TYPES}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 (our own generated code)
    return dsl.component(base_image=image(stage), install_kfp_package=False)(namespace[name])
