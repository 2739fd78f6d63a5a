"""Which code a pipeline task runs, read from the imports, and a hash of it for the local cache.

The graph is read from the source (every `import` of a `components.*` module, lazy ones inside
functions included), so it needs no upkeep: a task runs its stage package and every package that
package imports, transitively. The same graph lets a test hold the layering: no cycles, and no
stage importing `components.pipeline`.
"""

import ast
import hashlib
import os
from functools import cache

from components import stages

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

@cache
def _module_files():
    """{module name: file} for every module under components/."""
    files = {}
    for root, _, names in os.walk(PACKAGE_DIR):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3]
                module = relative.replace(os.sep, ".").removesuffix(".__init__")
                files[module] = path
    return files


@cache
def module_graph():
    """{module: the components.* modules it imports}; `from pkg import name` counts as an import
    of `pkg.name` when that is a module, else of `pkg`."""
    files = _module_files()
    graph = {}
    for module, path in files.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    targets.add(name if name in files else node.module)
        graph[module] = {t for t in targets if t in files and t != module}
    return graph


def package_of(module):
    """components.train.loop → train."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@cache
def package_graph():
    """{package: the other packages under components/ it imports}."""
    graph = {}
    for module, targets in module_graph().items():
        source = package_of(module)
        graph.setdefault(source, set()).update(
            package_of(t) for t in targets if package_of(t) != source)
    return graph


def packages_run_by(stage):
    """The packages a stage's task runs: its own and every one it imports, transitively."""
    graph, seen = package_graph(), set()
    todo = [stages.spec(stage).package]
    while todo:
        package = todo.pop()
        if package not in seen:
            seen.add(package)
            todo.extend(graph.get(package, ()))
    return seen


def code_version(stage):
    """sha256 (first 16 hex digits) of the Python code `stage` runs."""
    digest = hashlib.sha256()
    files, packages = _module_files(), packages_run_by(stage)
    for module in sorted(m for m in files if package_of(m) in packages):
        digest.update(os.path.relpath(files[module], PACKAGE_DIR).encode())
        with open(files[module], "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]
