"""What the pipeline knows of a stage, written once, in the stage's own `spec.py`.

A stage package (`components/<package>/`) holds its declaration (`arguments.py`), its task
functions (`tasks.py`) and its `spec.py`: one `StageSpec` per stage (a package may hold two, as
report holds data_report and report). Everything else reads the specs (`components/stages.py`
finds them): the image map (`components/images.py`), the code each task runs
(`pipeline/code.py`), the run parameters (`pipeline/parameters.py`), the pipeline's DAG
(`pipeline/definition.py`), the generated KFP components (`components/kfp/generate.py`, `make
generate`) and the structure test. No kfp here: an artifact's kind is its KFP class's name.
"""

import dataclasses
from collections.abc import Callable

from components.common.arguments import Param

ARTIFACT_KINDS = ("Artifact", "Dataset", "Model", "Metrics", "HTML", "Markdown")


def list_of(kind):
    """The kind of an input that is a list of artifacts (the fan-in of a `dsl.ParallelFor`)."""
    return f"List[{kind}]"


@dataclasses.dataclass(frozen=True)
class Skip:
    """A run value of one field that means "do not do the work": the generated component then
    hands the task `args=None` (the field's own range excludes that value). `help` is the run
    parameter's help, which says so."""
    field: str
    value: object
    help: str


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One KFP component: `run(<inputs…>, <outputs…>[, args][, param=value…])`.

    parameters: in signature order, a field name of `arguments` (a run value, turned into `args`
    by `arguments.from_run_values`) or a `Param` handed to the task as it is (a run value that is
    no field, such as a comma-separated list). settings: `Param`s the pipeline fixes when it is
    built, from the `definition.Settings` attribute of the same name. wired: `Param`s the
    pipeline's own code gives (a loop item, a per-task constant); a stage with wired parameters
    needs its own `add_<stage>` in `pipeline/definition.py`. copies: further names the same
    component runs under (a task each, e.g. one per model evaluated).
    """
    name: str
    run: Callable
    doc: str
    inputs: dict = dataclasses.field(default_factory=dict)   # argument → kind
    outputs: dict = dataclasses.field(default_factory=dict)  # argument → kind
    arguments: type | None = None
    parameters: tuple = ()
    settings: tuple = ()
    wired: tuple = ()
    returns: type | None = None
    skip: Skip | None = None
    copies: tuple = ()

    @property
    def names(self):
        return (self.name, *self.copies)

    def run_values(self):
        """The task's run values as `Param`s (type, default, help: the declaration's)."""
        params = []
        for item in self.parameters:
            if isinstance(item, Param):
                params.append(item)
                continue
            param = self.arguments.params([item])[0]
            if self.skip and self.skip.field == item:
                param = dataclasses.replace(param, help=self.skip.help)
            params.append(param)
        return params

    def field_names(self):
        return [item for item in self.parameters if not isinstance(item, Param)]


@dataclasses.dataclass(frozen=True)
class Pod:
    """How the pipeline places the stage's pods (`pipeline/placement.place`): CPU and memory
    (a GPU stage's come from the settings), its GPUs ("": none, "all": the settings' GPUs,
    "one": one of them at most), whether it is retried (nodes get preempted), mounts the
    checkpoint volume, and which Secret's keys it reads (`parameters.SECRETS`)."""
    cpu: str = "4"
    memory: str = "8G"
    gpus: str = ""
    retried: bool = False
    checkpoint_volume: bool = False
    secret: str | None = None


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """A stage: its name (the key of its image, pod placement and code hash), its image, the
    package whose code its tasks run, its tasks, and where it sits in the pipeline.

    order: its place among the pipeline's steps (None: no step of the main pipeline, e.g. the
    demo's base model); the DAG checks that every artifact it reads is made before it.
    reads: {task name: {input: the run's artifact fed to it}}. makes: {artifact: (task name,
    output)}. prefix: put before its run parameters' names (the distiller's share names with
    the trainer's). shares: run parameters of an earlier stage it takes too (one run parameter
    for both). run_parameters: the step's own run parameters when it does not pass its tasks'
    run values by name (None: its tasks' run values). clis: {(module, sub-command): the
    declaration its command line is built from}.
    """
    name: str
    image: str
    package: str
    tasks: tuple
    doc: str
    step: str | None = None
    order: int | None = None
    reads: dict = dataclasses.field(default_factory=dict)
    makes: dict = dataclasses.field(default_factory=dict)
    pod: Pod = Pod()
    prefix: str = ""
    shares: tuple = ()
    run_parameters: tuple | None = None
    clis: dict = dataclasses.field(default_factory=dict)

    @property
    def step_name(self):
        return self.step or self.name

    def task(self, name):
        return next(task for task in self.tasks if name in task.names)

    def inputs(self):
        """The run's artifacts the stage reads, in the order it names them."""
        return tuple(dict.fromkeys(a for wiring in self.reads.values() for a in wiring.values()))

    def pipeline_parameters(self):
        """The run parameters it reads, as the pipeline names them."""
        if self.run_parameters is not None:
            return tuple(self.run_parameters)
        found = {}
        for task in self.tasks:
            for param in task.run_values():
                if param.name not in self.shares:
                    name = self.prefix + param.name
                    found.setdefault(name, dataclasses.replace(param, name=name))
        return tuple(found.values())

    def artifact_kind(self, artifact):
        task_name, output = self.makes[artifact]
        return self.task(task_name).outputs[output]
