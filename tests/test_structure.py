"""The layering of components/: read from the imports (components.pipeline.code), so a cycle or
an arrow from a stage up into the pipeline fails here, not in a reader's head."""

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
