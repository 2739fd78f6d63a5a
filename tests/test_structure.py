"""The layering of components/: read from the imports (components.pipeline.code), so a cycle or
an arrow from a stage up into the pipeline fails here, not in a reader's head."""

import argparse
import ast
import dataclasses
import importlib
import pathlib
import re
import subprocess
import sys

import yaml

from components.pipeline import code


def cycles(graph):
    """Every strongly connected group of more than one node, or a node importing itself
    (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules_or_packages():
    assert cycles(code.module_graph()) == []
    assert cycles(code.package_graph()) == []


def test_no_stage_imports_the_pipeline_or_the_kfp_layer():
    upward = {package: sorted(targets) for package, targets in code.package_graph().items()
              if package != "pipeline" and "pipeline" in targets}
    assert upward == {}
    into_kfp = {package: sorted(targets) for package, targets in code.package_graph().items()
                if package not in KFP_LAYER and "kfp" in targets}
    assert into_kfp == {}


def test_each_task_runs_its_stage_and_what_it_imports():
    assert code.packages_run_by("train") >= {"train", "evaluate", "mlm", "bert", "common"}
    assert "train" not in code.packages_run_by("evaluate")
    assert code.packages_run_by("pretraining_data") == {"pretraining_data", "records", "bert",
                                                        "common"}


# The KFP layer: only these packages import kfp (the components' files and the pipeline).
KFP_LAYER = {"kfp", "pipeline"}


def imports_kfp(path):
    """Whether the module at `path` imports kfp (at its top or inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        if any(name == "kfp" or name.startswith("kfp.") for name in names):
            return True
    return False


def test_only_the_kfp_layer_imports_kfp():
    """Stages, records, bert, mlm and common run without kfp; the KFP glue is one layer
    (`components/kfp`, `components/pipeline`) above them."""
    root = pathlib.Path(code.PACKAGE_DIR)
    below = [str(path.relative_to(root.parent)) for path in sorted(root.rglob("*.py"))
             if code.package_of(".".join(path.relative_to(root.parent).with_suffix("").parts))
             not in KFP_LAYER and imports_kfp(path)]
    assert below == []
    assert imports_kfp(root / "pipeline" / "definition.py")  # the scan sees an import


def test_the_generated_components_are_what_make_generate_writes(tmp_path):
    """components/kfp/generated/ is written from the specs and declarations only; a file that
    differs was edited by hand or is stale."""
    from components.kfp import generate

    written = generate.write_all(str(tmp_path))
    committed = pathlib.Path(generate.GENERATED_DIR)
    stale = [name for name in written if not (committed / name).is_file()
             or (committed / name).read_text(encoding="utf-8")
             != (tmp_path / name).read_text(encoding="utf-8")]
    extra = sorted(p.name for p in committed.glob("*.py") if p.name not in written)
    assert (stale, extra) == ([], []), \
        "components/kfp/generated/ differs from the specs: run `make generate` and commit it"


# Every command line and the declaration it is built from: each stage's (its spec's `clis`).
def _stage_clis():
    from components import stages

    return {cli: (cls.__module__, cls.__name__) for spec in stages.all_specs().values()
            for cli, cls in spec.clis.items()}


DECLARATIONS = _stage_clis()


def declarations():
    return {cli: getattr(importlib.import_module(module), name)
            for cli, (module, name) in DECLARATIONS.items()}


def parser_of(module, command):
    runs_itself = module.endswith((".merge", ".init", "distill.evaluate"))
    name = module if runs_itself else f"{module}.__main__"
    parser = importlib.import_module(name).build_parser()
    if command is None:
        return parser
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[command]


def default_of(field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def test_each_cli_flag_is_its_declaration():
    for (module, command), cls in declarations().items():
        parser = parser_of(module, command)
        actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "command")}
        assert sorted(actions) == sorted(f.name for f, _ in cls.fields()), module
        for field, _ in cls.fields():
            action = actions[field.name]
            assert (action.default, action.help, action.choices) == (
                default_of(field), field.metadata["help"], field.metadata["choices"]), \
                (module, field.name)
            assert action.required == (field.default is dataclasses.MISSING and
                                       field.default_factory is dataclasses.MISSING)


KFP_TYPES = {int: "Integer", float: "Float", str: "String", bool: "Boolean"}


def test_components_and_pipeline_parameters_are_the_declarations(tmp_path):
    """What each component declares, what pipeline.yaml and `pipeline.py params` show, is the
    declaration's type, default and help."""
    from components import stages
    from components.distill.arguments import PIPELINE_FIELDS as DISTILL_FIELDS
    from components.distill.arguments import DistillArguments
    from components.evaluate.arguments import PIPELINE_FIELDS as EVALUATE_FIELDS
    from components.evaluate.arguments import EvaluateArguments
    from components.extract.arguments import INPUT_FILES, ExtractArguments
    from components.extract.arguments import PIPELINE_FIELDS as EXTRACT_FIELDS
    from components.kfp.generated.distill import distill
    from components.kfp.generated.evaluate import evaluate_base_model
    from components.kfp.generated.extract import extract
    from components.kfp.generated.pretraining_data import pretraining_data_shard
    from components.kfp.generated.report import report
    from components.kfp.generated.train import train
    from components.pipeline import definition, parameters
    from components.pipeline.remote import compile_pipeline
    from components.pretraining_data.arguments import PIPELINE_FIELDS as DATA_FIELDS
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.report.arguments import PIPELINE_FIELDS as REPORT_FIELDS
    from components.report.arguments import ModelReportArguments
    from components.train.arguments import PIPELINE_FIELDS as TRAIN_FIELDS
    from components.train.arguments import TrainArguments

    declared = {
        extract: [*ExtractArguments.params(EXTRACT_FIELDS), INPUT_FILES],
        pretraining_data_shard: PretrainingDataArguments.params(DATA_FIELDS),
        train: TrainArguments.params(TRAIN_FIELDS),
        evaluate_base_model: EvaluateArguments.params(EVALUATE_FIELDS),
        report: ModelReportArguments.params(REPORT_FIELDS),
    }
    run_parameters = {p.name: p for p in parameters.PARAMETERS}
    for task, params in declared.items():
        for param in params:
            spec = task.component_spec.inputs[param.name]
            assert (spec.default, spec.type) == (param.default, KFP_TYPES[param.type]), \
                (task.name, param.name)
            if param.name != "max_bad_fraction":  # data prep's; the run's is extract's
                assert run_parameters[param.name] == param, param.name
    # The distiller's run parameters are its flags, prefixed (several are the trainer's too).
    prefix = stages.spec("distill").prefix
    for param in DistillArguments.params(DISTILL_FIELDS):
        spec = distill.component_spec.inputs[param.name]
        assert (spec.default, spec.type) == (param.default, KFP_TYPES[param.type]), param.name
        run_parameter = run_parameters[prefix + param.name]
        assert (run_parameter.type, run_parameter.default) == (param.type, param.default)
    package = tmp_path / "pipeline.yaml"
    compile_pipeline(definition.build_pipeline(), str(package))
    spec = next(yaml.safe_load_all(package.read_text(encoding="utf-8")))
    compiled = spec["root"]["inputDefinitions"]["parameters"]
    assert list(compiled) == sorted(run_parameters)
    for name, param in run_parameters.items():
        assert compiled[name].get("defaultValue") == param.default, name
    listed = subprocess.run([sys.executable, "pipeline.py", "params"], cwd=code.PACKAGE_DIR +
                            "/..", capture_output=True, text=True, check=True).stdout
    width = max(map(len, run_parameters))
    for param in run_parameters.values():
        assert f"  {param.name:{width}} {param.type.__name__:5} {param.default!r}" in listed
        assert f"      {param.help}\n" in listed


def written_defaults(tree):
    """(name, default value) of every literal default in a module: function parameters, class
    attributes (dataclass fields) and argparse `add_argument("--name", default=...)` calls."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            positional = node.args.posonlyargs + node.args.args
            pairs = list(zip(positional[len(positional) - len(node.args.defaults):],
                             node.args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults,
                                             strict=True) if d is not None]
            for argument, default in pairs:
                if isinstance(default, ast.Constant):
                    yield argument.arg, default.value
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.value, ast.Constant):
                    yield item.target.id, item.value.value
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
              and node.args and isinstance(node.args[0], ast.Constant)):
            for keyword in node.keywords:
                if keyword.arg == "default" and isinstance(keyword.value, ast.Constant):
                    yield str(node.args[0].value).lstrip("-").replace("-", "_"), \
                        keyword.value.value


def test_no_default_is_written_a_second_time():
    """A declared default (`num_train_steps` 210000) written again as the default of a parameter,
    a field or a flag of that name anywhere in components/ or pipeline.py, outside the
    declarations, is a second, hand-kept copy. The generated components (components/kfp/
    generated/) are written from the declarations, which the test above holds them to."""
    declared = {}
    for cls in declarations().values():
        for field, _ in cls.fields():
            if field.default not in (None, True, False, "", 0, dataclasses.MISSING):
                declared.setdefault(field.name, set()).add(field.default)
    root = pathlib.Path(code.PACKAGE_DIR)
    found = []
    generated = root / "kfp" / "generated"
    for path in [*root.rglob("*.py"), root.parent / "pipeline.py"]:
        if path.name == "arguments.py" or path.parent == generated:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, value in written_defaults(tree):
            if type(value) is not bool and value in declared.get(name, ()):
                found.append(f"{path.relative_to(root.parent)}: {name}={value!r}")
    assert found == []


def test_the_scan_finds_a_second_copy():
    tree = ast.parse("def train(num_train_steps=210000):\n"
                     "    parser.add_argument('--query-text', default='x')\n"
                     "class A:\n    pack: bool = False\n")
    assert sorted(written_defaults(tree)) == [("num_train_steps", 210000), ("pack", False),
                                              ("query_text", "x")]


def test_help_says_each_default_once():
    """`(default: None)` says nothing, and a help that names its default gets no second one."""
    helps = [parser_of(module, command).format_help() for module, command in DECLARATIONS]
    pipeline_cli = importlib.import_module("pipeline").build_parser()
    subparsers = next(a for a in pipeline_cli._actions
                      if isinstance(a, argparse._SubParsersAction))
    helps += [sub.format_help() for sub in subparsers.choices.values()]
    for text in helps:
        flat = " ".join(text.split())
        assert "(default: None)" not in flat and "(default: [])" not in flat
        assert not re.search(r"default: [^()]*\) \(default:", flat), flat
