"""The edu-mlm pipeline: extract → split into shards → pretraining data (one pod per shard) →
merge → train → evaluate (base and trained model on the same held-out data) → convert → reports.

The pipeline is a sequence of stages. Each stage adds its tasks given the artifacts made so far
and returns the artifacts it makes, so the same code builds the whole pipeline and the one-stage
pipelines of `pipeline.py rerun` (which import the inputs from an earlier run instead).

What differs between a cluster and a local run (image registry/tag, the Secret's name, retries,
GPUs, where the training state lives, the backend version) is fixed when a pipeline is built
(`Settings`), never a run parameter, so no credential can reach `pipeline.yaml`, and the GPU
count compiles to a constant (the backend resolves a run parameter there to no GPU at all:
`backend/src/v2/driver/resolve.go` reads it with `GetStringValue()`, "" for a number).
"""

import inspect
from dataclasses import dataclass
from typing import NamedTuple

from kfp import dsl, kubernetes
from kfp.dsl import HTML, Dataset, Markdown, Metrics, Model

from components.bert.arguments import BertInitArguments
from components.bert.component import init_random_model
from components.common.run_state import CLAIM_ENV
from components.convert.component import convert_component
from components.distill.arguments import PIPELINE_FIELDS as DISTILL_FIELDS
from components.distill.component import distill
from components.evaluate.arguments import PIPELINE_FIELDS as EVALUATE_FIELDS
from components.evaluate.component import evaluate_component
from components.extract.arguments import TASK_PARAMETERS as EXTRACT_PARAMETERS
from components.extract.component import extract
from components.hdfs.arguments import HdfsConnection
from components.hdfs.component import hdfs_export_component, hdfs_import
from components.pipeline import backends, parameters, placement
from components.pipeline.placement import place, use_secret
from components.pretraining_data.arguments import PIPELINE_FIELDS as DATA_FIELDS
from components.pretraining_data.component import (
    merge_pretraining_data,
    pretraining_data_shard,
    pretraining_data_whole,
    split_corpus,
)
from components.report.arguments import PIPELINE_FIELDS as REPORT_FIELDS
from components.report.component import data_report, report
from components.train.arguments import PIPELINE_FIELDS as TRAIN_FIELDS
from components.train.component import train

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
    overriding placement.GPU_TASK_RESOURCES. image_references: (image, reference by digest)
    pairs that replace registry and tag; image_pull_secrets: Secret names, on every pod."""
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

    def resources_of(self, stage):
        return dict(self.resources).get(stage, placement.GPU_TASK_RESOURCES[stage])

    @property
    def compat(self):
        return backends.needs_compat(self.backend_version)


# Task names, explicit: the pipeline runs evaluate, convert and the HDFS export once per model.
EVALUATE_TASKS = {"base": "evaluate_base_model", "trained": "evaluate_trained_model"}
CONVERT_TASKS = {"base": "convert_base_model", "trained": "convert_trained_model"}
# artifact → (its name on HDFS, the export task's name)
HDFS_EXPORTS = {"model": ("tf_model", "export_tf_model"),
                "hf_model": ("hf_model", "export_hf_model"),
                "student": ("student", "export_student")}


def task_name(name):
    """What KFP calls the task of the component named `name` (evaluate_base_model →
    evaluate-base-model)."""
    return name.replace("_", "-")


# Every artifact a run makes, its type, and the (task, output) that makes it: `rerun` imports them.
ARTIFACTS = {
    "base_model": (Model, None),
    "corpus": (Dataset, ("extract", "corpus")),
    "extract_metrics": (Metrics, ("extract", "metrics")),
    "pretraining_data": (Dataset, ("merge-pretraining-data", "pretraining_data")),
    "data_metrics": (Metrics, ("merge-pretraining-data", "metrics")),
    "data_report": (HTML, ("data-report", "html")),
    "model": (Model, ("train", "model")),
    "train_metrics": (Metrics, ("train", "metrics")),
    "base_eval": (Metrics, (task_name(EVALUATE_TASKS["base"]), "metrics")),
    "trained_eval": (Metrics, (task_name(EVALUATE_TASKS["trained"]), "metrics")),
    "base_hf_model": (Model, (task_name(CONVERT_TASKS["base"]), "hf_model")),
    "hf_model": (Model, (task_name(CONVERT_TASKS["trained"]), "hf_model")),
    "base_parity": (Metrics, (task_name(CONVERT_TASKS["base"]), "parity")),
    "parity": (Metrics, (task_name(CONVERT_TASKS["trained"]), "parity")),
    "student": (Model, ("distill", "student")),
    "distill_metrics": (Metrics, ("distill", "metrics")),
    "report": (HTML, ("report", "html")),
    "summary": (Markdown, ("report", "summary")),
    "report_metrics": (Metrics, ("report", "metrics")),
}


def _values(params, names):
    return {name: params[name] for name in names}


# Each add_<stage>(artifacts, params, settings) adds the stage's tasks: `artifacts` holds the
# channels of what earlier stages made, `params` the run parameters; it returns what it makes.

def add_extract(artifacts, params, settings):
    task = place(extract(**_values(params, [p.name for p in EXTRACT_PARAMETERS])), "extract",
                 settings, cpu="2", memory="4G")
    use_secret(task, SECRET_KEYS_TO_ENV, settings)
    return {"corpus": task.outputs["corpus"], "extract_metrics": task.outputs["metrics"]}


def add_pretraining_data(artifacts, params, settings):
    masking = _values(params, DATA_FIELDS)
    if settings.compat:
        whole = place(pretraining_data_whole(
            corpus=artifacts["corpus"], base_model=artifacts["base_model"],
            num_shards=params["num_shards"], **masking), "pretraining_data", settings)
        return {"pretraining_data": whole.outputs["pretraining_data"],
                "data_metrics": whole.outputs["metrics"]}
    split = place(split_corpus(corpus=artifacts["corpus"], num_shards=params["num_shards"]),
                  "pretraining_data", settings, cpu="1", memory="1G")
    # Only the loop item crosses into the loop: kfp.local 2.17 resolves other task outputs used
    # inside a ParallelFor to the loop item.
    with dsl.ParallelFor(split.output) as part:
        shard_task = place(pretraining_data_shard(
            corpus=artifacts["corpus"], base_model=artifacts["base_model"], part=part,
            **masking), "pretraining_data", settings)
    merged = place(merge_pretraining_data(
        shards=dsl.Collected(shard_task.outputs["pretraining_data"])),
        "pretraining_data", settings, cpu="1", memory="2G")
    return {"pretraining_data": merged.outputs["pretraining_data"],
            "data_metrics": merged.outputs["metrics"]}


def add_data_report(artifacts, params, settings):
    task = place(data_report(corpus=artifacts["corpus"],
                             pretraining_data=artifacts["pretraining_data"]),
                 "data_report", settings, cpu="1", memory="2G")
    return {"data_report": task.outputs["html"]}


def _mount_checkpoint_volume(task, settings):
    """The claim holding the resumable state; its name in the environment, so that a task that
    cannot write there names the one-time fix (`run_state.check_state_dir_writable`)."""
    if settings.checkpoint_pvc:
        kubernetes.mount_pvc(task, pvc_name=settings.checkpoint_pvc,
                             mount_path=settings.checkpoint_root)
        task.set_env_variable(CLAIM_ENV, settings.checkpoint_pvc)


def add_train(artifacts, params, settings):
    task = place(train(
        pretraining_data=artifacts["pretraining_data"], base_model=artifacts["base_model"],
        **_values(params, TRAIN_FIELDS), num_gpus=settings.num_gpus,
        checkpoint_root=settings.checkpoint_root),
        "train", settings, gpus=settings.num_gpus, retried=True)
    _mount_checkpoint_volume(task, settings)
    return {"model": task.outputs["model"], "train_metrics": task.outputs["metrics"]}


def add_evaluate(artifacts, params, settings):
    outputs = {}
    for which, model in (("base", artifacts["base_model"]), ("trained", artifacts["model"])):
        task = place(evaluate_component(EVALUATE_TASKS[which])(
            pretraining_data=artifacts["pretraining_data"], model=model,
            **_values(params, EVALUATE_FIELDS)),
            "evaluate", settings, gpus=min(settings.num_gpus, 1),
            retried=True)
        outputs[f"{which}_eval"] = task.outputs["metrics"]
    return outputs


def add_convert(artifacts, params, settings):
    outputs = {}
    for which, model, prefix in (("base", artifacts["base_model"], "base_"),
                                 ("trained", artifacts["model"], "")):
        task = place(convert_component(CONVERT_TASKS[which])(
            model=model, pretraining_data=artifacts["pretraining_data"]), "convert", settings,
            cpu="4", memory="16G")
        outputs[f"{prefix}hf_model"] = task.outputs["hf_model"]
        outputs[f"{prefix}parity"] = task.outputs["parity"]
    return outputs


def add_distill(artifacts, params, settings):
    """The trained model, converted, distilled into a small student (a GPU pod like the
    trainer's, retried, its state on the same volume); with distill_num_train_steps 0 the task
    only records that it was skipped."""
    task = place(distill(
        teacher=artifacts["hf_model"], pretraining_data=artifacts["pretraining_data"],
        **{name: params[parameters.DISTILL_PREFIX + name] for name in DISTILL_FIELDS},
        num_gpus=settings.num_gpus, checkpoint_root=settings.checkpoint_root),
        "distill", settings, gpus=settings.num_gpus, retried=True)
    _mount_checkpoint_volume(task, settings)
    return {"student": task.outputs["student"], "distill_metrics": task.outputs["metrics"]}


def add_report(artifacts, params, settings):
    task = place(report(
        pretraining_data=artifacts["pretraining_data"], data_metrics=artifacts["data_metrics"],
        model=artifacts["model"], train_metrics=artifacts["train_metrics"],
        base_eval=artifacts["base_eval"], trained_eval=artifacts["trained_eval"],
        base_hf_model=artifacts["base_hf_model"], hf_model=artifacts["hf_model"],
        parity=artifacts["parity"], base_parity=artifacts["base_parity"],
        student=artifacts["student"], distill_metrics=artifacts["distill_metrics"],
        **_values(params, REPORT_FIELDS)), "report", settings, cpu="2", memory="16G")
    return {"report": task.outputs["html"], "summary": task.outputs["summary"],
            "report_metrics": task.outputs["metrics"]}


def add_export(artifacts, params, settings):
    """Copy the trained models to HDFS when `export_hdfs_dir` is set."""
    with dsl.If(params["export_hdfs_dir"] != "", name="export-to-hdfs"):
        for artifact, (name, task_id) in HDFS_EXPORTS.items():
            task = place(hdfs_export_component(task_id)(
                artifact=artifacts[artifact], hdfs_dir=params["export_hdfs_dir"], name=name,
                namenode_url=params["hdfs_url"], hdfs_auth=params["hdfs_auth"]), "hdfs",
                settings, cpu="1", memory="2G")
            use_secret(task, HDFS_SECRET_KEYS_TO_ENV, settings)
    return {}


@dataclass(frozen=True)
class Stage:
    name: str
    add: object     # add(artifacts, params, settings) -> {artifact name: channel}
    inputs: tuple   # artifact names it reads
    outputs: tuple  # artifact names it makes


STAGES = {stage.name: stage for stage in (
    Stage("extract", add_extract, (), ("corpus", "extract_metrics")),
    Stage("pretraining_data", add_pretraining_data, ("corpus", "base_model"),
          ("pretraining_data", "data_metrics")),
    Stage("data_report", add_data_report, ("corpus", "pretraining_data"), ("data_report",)),
    Stage("train", add_train, ("pretraining_data", "base_model"), ("model", "train_metrics")),
    Stage("evaluate", add_evaluate, ("pretraining_data", "base_model", "model"),
          ("base_eval", "trained_eval")),
    Stage("convert", add_convert, ("base_model", "model", "pretraining_data"),
          ("base_hf_model", "base_parity", "hf_model", "parity")),
    Stage("distill", add_distill, ("hf_model", "pretraining_data"),
          ("student", "distill_metrics")),
    Stage("report", add_report, ("pretraining_data", "data_metrics", "model", "train_metrics",
                                 "base_eval", "trained_eval", "base_hf_model", "hf_model",
                                 "parity", "base_parity", "student", "distill_metrics"),
          ("report", "summary", "report_metrics")),
    Stage("export", add_export, ("model", "hf_model", "student"), ()),
)}
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


def build_stage_pipeline(stage_names, input_artifacts, settings=Settings()):
    """A pipeline running the stages `stage_names` (a rerun: the first and those downstream of
    it, or one alone), fed by importers of `input_artifacts` ({name: (uri, metadata)}) from an
    earlier run."""
    needed = imported_inputs(stage_names)

    def body(params):
        made = {name: dsl.importer(artifact_uri=uri, artifact_class=ARTIFACTS[name][0],
                                   reimport=False, metadata=metadata).output
                for name, (uri, metadata) in input_artifacts.items() if name in needed}
        for name in stage_names:
            made.update(STAGES[name].add(made, params, settings))
        return made

    first = stage_names[0]
    return _make_pipeline(f"{PIPELINE_NAME}-rerun-{first.replace('_', '-')}",
                          f"Rerun of the {first} stage of {PIPELINE_NAME}"
                          + (" and the stages after it" if len(stage_names) > 1 else ""), body,
                          [name for stage in stage_names for name in STAGES[stage].outputs])


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
        task = place(init_random_model(bert_config=config.output, vocab=vocab.output,
                                       random_seed=random_seed), "bert", settings,
                     cpu="1", memory="4G")
        return task.outputs["model"]

    return demo_base_model


def build_hdfs_import_pipeline(settings=Settings()):
    """Bring a model directory (e.g. Google's chinese_L-12_H-768_A-12) or raw text from HDFS into
    the artifact store; its URI is then a run's `base_model_uri`."""

    @dsl.pipeline(name=f"{PIPELINE_NAME}-hdfs-import",
                  description="Copy an HDFS path into the artifact store")
    def hdfs_import_pipeline(hdfs_path: str, kind: str = "model", hdfs_url: str = "",
                             hdfs_auth: str = HdfsConnection.hdfs_auth) -> dsl.Artifact:
        task = place(hdfs_import(hdfs_path=hdfs_path, kind=kind, namenode_url=hdfs_url,
                                 hdfs_auth=hdfs_auth), "hdfs", settings, cpu="1", memory="2G")
        use_secret(task, HDFS_SECRET_KEYS_TO_ENV, settings)
        return task.outputs["artifact"]

    return hdfs_import_pipeline
