"""The layering of components/: read from the imports (components.pipeline.code), so a cycle or
an arrow from a stage up into the pipeline fails here, not in a reader's head."""

import dataclasses
import pathlib
import re

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


def test_no_stage_imports_the_pipeline():
    upward = {package: sorted(targets) for package, targets in code.package_graph().items()
              if package != "pipeline" and "pipeline" in targets}
    assert upward == {}


def test_each_task_runs_its_stage_and_what_it_imports():
    assert code.packages_run_by("train") >= {"train", "evaluate", "mlm", "bert", "common"}
    assert "train" not in code.packages_run_by("evaluate")
    assert code.packages_run_by("pretraining_data") == {"pretraining_data", "bert", "common",
                                                        "images"}


# Every stage declaration; a new stage adds its own here.
DECLARATIONS = {
    "components.extract": ("components.extract.arguments", "ExtractArguments"),
    "components.pretraining_data": ("components.pretraining_data.arguments",
                                    "PretrainingDataArguments"),
    "components.train": ("components.train.arguments", "TrainArguments"),
    "components.evaluate": ("components.evaluate.arguments", "EvaluateArguments"),
}


def declarations():
    import importlib

    return {cli: getattr(importlib.import_module(module), name)
            for cli, (module, name) in DECLARATIONS.items()}


def test_each_cli_flag_is_its_declaration():
    import importlib

    for cli, cls in declarations().items():
        parser = importlib.import_module(f"{cli}.__main__").build_parser()
        actions = {a.dest: a for a in parser._actions if a.dest != "help"}
        assert sorted(actions) == sorted(f.name for f, _ in cls.fields()), cli
        for field, _ in cls.fields():
            action = actions[field.name]
            default = field.default_factory() if field.default_factory is not \
                dataclasses.MISSING else (None if field.default is dataclasses.MISSING
                                          else field.default)
            assert (action.default, action.help, action.choices) == (
                default, field.metadata["help"], field.metadata["choices"]), (cli, field.name)
            assert action.required == (field.default is dataclasses.MISSING and
                                       field.default_factory is dataclasses.MISSING)


def test_components_and_pipeline_parameters_are_the_declarations():
    from components.extract.component import extract
    from components.pipeline import parameters
    from components.pretraining_data.component import pretraining_data_shard
    from components.train.component import train

    declared = {}
    for cls in declarations().values():
        for param in cls.params([f.name for f, _ in cls.fields()]):
            declared.setdefault(param.name, param)
    for task in (extract, pretraining_data_shard, train):
        for name, spec in task.component_spec.inputs.items():
            if name in declared:
                assert (spec.default, spec.type) == (
                    declared[name].default, {int: "Integer", float: "Float", str: "String",
                                             bool: "Boolean"}[declared[name].type]), name
    for param in parameters.PARAMETERS:
        if param.name in declared:
            assert param == declared[param.name], param.name


def test_no_default_is_written_a_second_time():
    """A declared default (`num_train_steps` 210000) found again beside its name anywhere in
    components/ outside the declarations means a second, hand-kept copy."""
    found = []
    sources = {path: path.read_text(encoding="utf-8")
               for path in pathlib.Path(code.PACKAGE_DIR).rglob("*.py")
               if path.name != "arguments.py"}
    for cls in declarations().values():
        for field, _ in cls.fields():
            default = field.default
            if default in (None, True, False, "", 0, dataclasses.MISSING) or isinstance(
                    default, dataclasses.Field):
                continue
            literal = re.escape(repr(default))
            patterns = [rf"\b{field.name}\s*(?::[^=\n]+)?=\s*{literal}(?![\w.])",
                        rf"--{field.name}\b[^\n]*default={literal}(?![\w.])"]
            for path, text in sources.items():
                if any(re.search(p, text) for p in patterns):
                    found.append(f"{path.relative_to(code.PACKAGE_DIR)}: {field.name}={default!r}")
    assert found == []
