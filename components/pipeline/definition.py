"""The edu-mlm pipeline: extract → split into shards → pretraining data (one pod per shard) →
merge → train → evaluate (base and trained model on the same held-out data) → convert → reports.

The pipeline is a sequence of stages, read from their specs (`components/<package>/spec.py`,
`components/stages.py`). Each stage adds its tasks given the artifacts made so far, wired by name
as its spec says (`add_tasks`), and returns the artifacts it makes, so the same code builds the
whole pipeline and the one-stage pipelines of `pipeline.py rerun` (which import the inputs from
an earlier run instead). The components are the files `make generate` wrote
(`components/kfp/generated/`).

What differs between a cluster and a local run (image registry/tag, the Secret's name, retries,
GPUs, where the training state lives, the backend version) is fixed when a pipeline is built
(`Settings`), never a run parameter, so no credential can reach `pipeline.yaml`, and the GPU
count compiles to a constant (the backend resolves a run parameter there to no GPU at all:
`backend/src/v2/driver/resolve.go` reads it with `GetStringValue()`, "" for a number).
"""

import importlib
import inspect
from dataclasses import dataclass
from typing import NamedTuple

from kfp import dsl, kubernetes
from kfp.dsl import Model

from components import stages
from components.bert.arguments import BertInitArguments
from components.common.run_state import CLAIM_ENV
from components.hdfs.arguments import HdfsConnection
from components.hdfs.spec import EXPORTS
from components.pipeline import backends, parameters, placement
from components.pipeline.placement import place, use_secret

PIPELINE_NAME = "edu-mlm"
DEFAULT_SECRET = parameters.DEFAULT_SECRET
SECRET_KEYS_TO_ENV = parameters.SECRET_KEYS_TO_ENV
HDFS_SECRET_KEYS_TO_ENV = parameters.HDFS_SECRET_KEYS_TO_ENV
DEFAULT_CHECKPOINT_PVC = parameters.DEFAULT_CHECKPOINT_PVC
CHECKPOINT_MOUNT = "/mnt/edu-mlm-checkpoints"
SHM_SIZE = placement.SHM_SIZE


@dataclass(frozen=True)
class Settings:
    """Compile-time choices. retries: how often the GPU tasks retry (nodes get preempted);
    data-prep failures are deterministic and are not retried. code_versions: put a hash of each
    task's code in its environment, so a local cache entry is only reused while the code that
    made it is unchanged (on a cluster the image tag plays that role).

    num_gpus: the trainer pod's GPUs (evaluation gets one); 0 = none asked, none expected.
    checkpoint_pvc: the PersistentVolumeClaim mounted at checkpoint_root on the train task,
    where the training state lives (one sub-directory per run) so that a retried pod resumes;
    "" = no volume, checkpoint_root is then a local directory ("" = inside the model).
    backend_version: the oldest KFP backend to run on (see `backends`).
    secret_name: "" = no Secret at all (sources that need no credentials).
    retry_max_seconds: how long after a retried task's first start Argo still retries it.
    gpu_tolerations (add_toleration's arguments as (name, value) pairs) and gpu_node_selector
    ((label, value) pairs): on the GPU pods only. resources: (stage, placement.Resources) pairs
    overriding placement.default_resources(). image_references: (image, reference by digest)
    pairs that replace registry and tag; image_pull_secrets: Secret names, on every pod.
    step_errors_dir: where a step writes the UserError it stopped on (a local run's runner reads
    it: `local.step_errors_dir`); "" on a cluster, whose pod logs show it."""
    registry: str | None = None
    tag: str | None = None
    secret_name: str = DEFAULT_SECRET
    retries: int = 2
    code_versions: bool = False
    num_gpus: int = 1
    checkpoint_pvc: str = DEFAULT_CHECKPOINT_PVC
    checkpoint_root: str = CHECKPOINT_MOUNT
    backend_version: str = backends.FULL
    retry_max_seconds: int = placement.retry_seconds(placement.DEFAULT_RETRY_MAX_DURATION)
    gpu_tolerations: tuple = ()
    gpu_node_selector: tuple = ()
    resources: tuple = ()
    image_references: tuple = ()
    image_pull_secrets: tuple = ()
    step_errors_dir: str = ""

    @property
    def compat(self):
        return backends.needs_compat(self.backend_version)


def task_name(name):
    """What KFP calls the task of the component named `name` (evaluate_base_model →
    evaluate-base-model)."""
    return name.replace("_", "-")


def component(name):
    """The KFP component `name` (a task name of a stage's spec), from the file `make generate`
    wrote for its stage (`components/kfp/generated/<stage>.py`)."""
    for spec in stages.all_specs().values():
        if any(name in task.names for task in spec.tasks):
            return getattr(importlib.import_module(f"components.kfp.generated.{spec.name}"), name)
    raise KeyError(f"no stage has a task named {name!r}")


# The KFP artifact classes by the names the specs give them.
KINDS = {cls.__name__: cls for cls in (dsl.Artifact, dsl.Dataset, dsl.Model, dsl.Metrics,
                                       dsl.HTML, dsl.Markdown)}

# Every artifact a run makes, its type, and the (task, output) that makes it: `rerun` imports
# them. Read from the steps' specs (`StageSpec.makes`).
ARTIFACTS = {"base_model": (Model, None), **{
    artifact: (KINDS[spec.artifact_kind(artifact)], (task_name(task), output))
    for spec in stages.steps() for artifact, (task, output) in spec.makes.items()}}


def _mount_checkpoint_volume(task, settings):
    """The claim holding the resumable state; its name in the environment, so that a task that
    cannot write there names the one-time fix (`run_state.check_state_dir_writable`)."""
    if settings.checkpoint_pvc:
        kubernetes.mount_pvc(task, pvc_name=settings.checkpoint_pvc,
                             mount_path=settings.checkpoint_root)
        task.set_env_variable(CLAIM_ENV, settings.checkpoint_pvc)


def _place(task, spec, settings, **sizes):
    """Place a task of the stage `spec` as its `Pod` says (`sizes`: cpu/memory of this task,
    where a stage's tasks differ)."""
    pod = spec.pod
    gpus = {"": 0, "all": settings.num_gpus, "one": min(settings.num_gpus, 1)}[pod.gpus]
    place(task, spec.name, settings, **{"cpu": pod.cpu, "memory": pod.memory, **sizes},
          gpus=gpus, retried=pod.retried)
    if pod.checkpoint_volume:
        _mount_checkpoint_volume(task, settings)
    if pod.secret:
        use_secret(task, parameters.SECRETS[pod.secret], settings)
    return task


def _given(spec, name, artifacts, params, settings):
    """What the task `name` of the stage `spec` is given, all by name: the run's artifacts as
    its spec wires them, its run values (the stage's prefix before their names), and the
    settings' values of its compile-time parameters."""
    task = spec.task(name)
    given = {argument: artifacts[artifact]
             for argument, artifact in spec.reads.get(name, {}).items()}
    given.update({p.name: params[spec.prefix + p.name] for p in task.run_values()})
    given.update({p.name: getattr(settings, p.name) for p in task.settings})
    return given


# Each add(spec, artifacts, params, settings) adds the stage's tasks: `artifacts` holds the
# channels of what earlier stages made, `params` the run parameters; it returns what it makes.

def add_tasks(spec, artifacts, params, settings, reused=()):
    """Every task of the stage but those `reused` (a rerun imports their results instead), each
    wired by name (`_given`): what a stage needs unless its tasks take a parameter the pipeline
    wires itself (`TaskSpec.wired`)."""
    made = {name: _place(component(name)(**_given(spec, name, artifacts, params, settings)),
                         spec, settings)
            for task in spec.tasks for name in task.names if name not in reused}
    return {artifact: made[task].outputs[output]
            for artifact, (task, output) in spec.makes.items() if task in made}


def add_pretraining_data(spec, artifacts, params, settings):
    """The fan-out: a pod per shard of the corpus, then the merge; one pod on backends without
    `dsl.Collected`."""
    def given(name):
        return _given(spec, name, artifacts, params, settings)

    if settings.compat:
        whole = _place(component("pretraining_data_whole")(**given("pretraining_data_whole")),
                       spec, settings)
        return {"pretraining_data": whole.outputs["pretraining_data"],
                "data_metrics": whole.outputs["metrics"]}
    split = _place(component("split_corpus")(**given("split_corpus")), spec, settings,
                   cpu="1", memory="1G")
    # Only the loop item crosses into the loop: kfp.local 2.17 resolves other task outputs used
    # inside a ParallelFor to the loop item.
    with dsl.ParallelFor(split.output) as part:
        shard_task = _place(component("pretraining_data_shard")(
            **given("pretraining_data_shard"), part=part), spec, settings)
    merged = _place(component("merge_pretraining_data")(
        shards=dsl.Collected(shard_task.outputs["pretraining_data"])), spec, settings,
        cpu="1", memory="2G")
    return {artifact: merged.outputs[output] for artifact, (_, output) in spec.makes.items()}


def add_export(spec, artifacts, params, settings):
    """Copy the trained models to HDFS when `export_hdfs_dir` is set."""
    with dsl.If(params["export_hdfs_dir"] != "", name="export-to-hdfs"):
        for artifact, (name, task_id) in EXPORTS.items():
            _place(component(task_id)(
                artifact=artifacts[artifact], hdfs_dir=params["export_hdfs_dir"], name=name,
                namenode_url=params["hdfs_url"], hdfs_auth=params["hdfs_auth"]), spec, settings)
    return {}


# The steps whose tasks take parameters the pipeline wires itself; the others: `add_tasks`.
WIRED_BY_HAND = {"pretraining_data": add_pretraining_data, "export": add_export}


@dataclass(frozen=True)
class Stage:
    """A step of the pipeline, from its stage's spec."""
    spec: object
    name: str
    inputs: tuple   # artifact names it reads
    outputs: tuple  # artifact names it makes

    def add(self, artifacts, params, settings, reused=()):
        """Add the step's tasks but those `reused` (never one of a stage wired by hand:
        `reusable_tasks`); returns {artifact name: channel} of what they make."""
        if self.name in WIRED_BY_HAND:
            return WIRED_BY_HAND[self.name](self.spec, artifacts, params, settings)
        return add_tasks(self.spec, artifacts, params, settings, reused)


STAGES = {spec.step_name: Stage(spec, spec.step_name, spec.inputs(), tuple(spec.makes))
          for spec in stages.steps()}
assert tuple(STAGES) == parameters.STEPS


def _outputs_type(names):
    return NamedTuple("Outputs", [(name, ARTIFACTS[name][0]) for name in names])


def _make_pipeline(name, description, body, output_names):
    """A `@dsl.pipeline` whose parameters are `parameters.PARAMETERS` and whose outputs are the
    artifacts `output_names`; `body(params)` adds the tasks and returns {artifact name: channel}."""
    outputs_type = _outputs_type(output_names) if output_names else None

    def pipeline_func(*args):
        made = body(dict(zip(parameters.BY_NAME, args, strict=True)))
        return outputs_type(**{key: made[key] for key in output_names}) if outputs_type else None

    # Unlike a component (components/kfp/generated/), a pipeline function's source never
    # ships: KFP calls it once, here, to trace the DAG, and reads only its signature
    # (inspect.signature, which honours __signature__). So its parameters are set from
    # parameters.PARAMETERS as a signature object, not written out as a file: there is no
    # source a container would run or a traceback would point into.
    pipeline_func.__signature__ = parameters.signature(outputs_type or inspect.Signature.empty)
    pipeline_func.__name__ = name.replace("-", "_")
    return dsl.pipeline(name=name, description=description)(pipeline_func)


def build_pipeline(settings=Settings()):
    """The whole pipeline; its outputs are every artifact of the run (see ARTIFACTS)."""

    def body(params):
        made = {"base_model": dsl.importer(artifact_uri=params["base_model_uri"],
                                           artifact_class=Model, reimport=False).output}
        for stage in STAGES.values():
            made.update(stage.add(made, params, settings))
        return made

    return _make_pipeline(
        PIPELINE_NAME, "Continued masked-LM pretraining of Google's Chinese BERT on education "
        "text, converted to a transformers model", body,
        [name for name in ARTIFACTS if name != "base_model"])


def downstream(stage_name):
    """`stage_name` and every stage that reads, directly or not, what it makes (in pipeline
    order): what a rerun of that stage must rerun so that no result of the old one is left."""
    names, changed = [], set()
    for stage in STAGES.values():
        if stage.name == stage_name or changed & set(stage.inputs):
            names.append(stage.name)
            changed.update(stage.outputs)
    return names


def imported_inputs(stage_names):
    """The artifacts the stages `stage_names` read and do not make themselves."""
    made = {name for stage in stage_names for name in STAGES[stage].outputs}
    return list(dict.fromkeys(name for stage in stage_names for name in STAGES[stage].inputs
                              if name not in made))


def reusable_tasks(stage_names, earlier, changed_parameters):
    """{task name: the artifacts it makes} of the tasks a rerun of `stage_names` need not run
    again: in a stage after the first (the one asked for always reruns whole), with every input
    from the earlier run, every output in `earlier` (the earlier run's artifacts), and none of
    its run values among `changed_parameters` (the run parameters given other values than the
    earlier run had; None when those are unknown: only tasks without run values are reused).
    E.g. `rerun train` leaves the base model's evaluation and conversion as they were."""
    remade = set()
    reusable = {}
    for position, stage_name in enumerate(stage_names):
        spec = STAGES[stage_name].spec
        for task_name in (n for task in spec.tasks for n in task.names):
            outputs = [a for a, (maker, _) in spec.makes.items() if maker == task_name]
            values = {spec.prefix + p.name for p in spec.task(task_name).run_values()}
            if (position > 0 and stage_name not in WIRED_BY_HAND and outputs
                    and not remade & set(spec.reads.get(task_name, {}).values())
                    and all(a in earlier for a in outputs)
                    and not (values and (changed_parameters is None
                                         or values & set(changed_parameters)))):
                reusable[task_name] = outputs
            else:
                remade.update(outputs)
    return reusable


def build_stage_pipeline(stage_names, input_artifacts, settings=Settings(), reused=None):
    """A pipeline running the stages `stage_names` (a rerun: the first and those downstream of
    it, or one alone) but the tasks `reused` (`reusable_tasks`), fed by importers of
    `input_artifacts` ({name: (uri, metadata)}) from an earlier run: the inputs of the stages
    and the results of the reused tasks."""
    reused = reused or {}
    kept = {artifact for outputs in reused.values() for artifact in outputs}
    needed = set(imported_inputs(stage_names)) | kept

    def body(params):
        made = {name: dsl.importer(artifact_uri=uri, artifact_class=ARTIFACTS[name][0],
                                   reimport=False, metadata=metadata).output
                for name, (uri, metadata) in input_artifacts.items() if name in needed}
        for name in stage_names:
            made.update(STAGES[name].add(made, params, settings, reused))
        return made

    first = stage_names[0]
    return _make_pipeline(f"{PIPELINE_NAME}-rerun-{first.replace('_', '-')}",
                          f"Rerun of the {first} stage of {PIPELINE_NAME}"
                          + (" and the stages after it" if len(stage_names) > 1 else ""), body,
                          [name for stage in stage_names for name in STAGES[stage].outputs
                           if name not in kept])


def build_demo_base_model_pipeline(settings=Settings()):
    """`make run`'s base model: a random tiny BERT from the sample config and vocab."""

    @dsl.pipeline(name=f"{PIPELINE_NAME}-demo-base-model",
                  description="A randomly initialised BERT (the demo's base model)")
    def demo_base_model(bert_config_uri: str, vocab_uri: str,
                        random_seed: int = BertInitArguments.random_seed) -> Model:
        config = dsl.importer(artifact_uri=bert_config_uri, artifact_class=dsl.Artifact,
                              reimport=False)
        vocab = dsl.importer(artifact_uri=vocab_uri, artifact_class=dsl.Artifact,
                             reimport=False)
        task = _place(component("init_random_model")(
            bert_config=config.output, vocab=vocab.output, random_seed=random_seed),
            stages.spec("bert"), settings)
        return task.outputs["model"]

    return demo_base_model


def build_hdfs_import_pipeline(settings=Settings()):
    """Bring a model directory (e.g. Google's chinese_L-12_H-768_A-12) or raw text from HDFS into
    the artifact store; its URI is then a run's `base_model_uri`."""

    @dsl.pipeline(name=f"{PIPELINE_NAME}-hdfs-import",
                  description="Copy an HDFS path into the artifact store")
    def hdfs_import_pipeline(hdfs_path: str, kind: str = "model", hdfs_url: str = "",
                             hdfs_auth: str = HdfsConnection.hdfs_auth) -> dsl.Artifact:
        task = _place(component("hdfs_import")(
            hdfs_path=hdfs_path, kind=kind, namenode_url=hdfs_url, hdfs_auth=hdfs_auth),
            stages.spec("hdfs"), settings)
        return task.outputs["artifact"]

    return hdfs_import_pipeline
