"""edu-mlm Kubeflow pipeline: compile, submit to a cluster, run locally, rerun one step.

    python pipeline.py compile [--output pipeline.yaml] [--registry R --tag T]
    python pipeline.py submit --host URL [--experiment E] [--run-name N] [--param k=v ...]
    python pipeline.py run-local [--param k=v ...]
    python pipeline.py rerun STEP --from RUN_DIR_OR_URIS [--param k=v ...] [--host URL]
    python pipeline.py tfjob --workers N [--gpus-per-worker G] [--volume-claim PVC] -- TRAIN_FLAGS
    python pipeline.py checkpoint-volume [--checkpoint-pvc PVC] | kubectl -n NS apply -f -
    python pipeline.py serve-manifest --storage-uri URI [--int8] | kubectl -n NS apply -f -
    python pipeline.py params
"""

import logging
import os
import sys

from components.common.cli import ArgumentParser, HelpFormatter
from components.common.errors import UserError, exit_on_user_error
from components.common.logs import setup_logging
from components.hdfs.arguments import KINDS, HdfsConnection
from components.hdfs.client import AUTH_MODES
from components.pipeline import parameters
from components.pipeline.cluster_cli import (
    add_cluster_flags,
    add_image_flags,
    add_manifest_commands,
    settings_from,
    submit_options,
)

log = logging.getLogger("pipeline")

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
SAMPLE_DIR = os.path.join(REPO_ROOT, "data", "sample")
LOCAL_ROOT = os.path.join("runs", "local")
SAMPLE_DB = os.path.join("build", "sample.db")
# run-local's defaults: the shipped sample, sized to finish in a few minutes on 2 CPU cores.
LOCAL_DEFAULTS = {
    "query": "SELECT summary FROM articles ORDER BY id",
    "num_shards": 2,
    "dupe_factor": 2,
    "heldout_fraction": 0.1,
    "train_batch_size": 32,
    "num_train_steps": 40,
    "num_warmup_steps": 4,
    "log_every_n_steps": 4,
    "learning_rate": 2e-3,
    "save_checkpoints_steps": 1000,
    "eval_batch_size": 64,
    # The demo teacher has 2 layers: a 1-layer student from its last one, briefly.
    "distill_student_num_hidden_layers": 1,
    "distill_num_train_steps": 24,
    "distill_num_warmup_steps": 4,
    "distill_log_every_n_steps": 4,
    "distill_learning_rate": 1e-3,
    # The downstream step on the shipped labelled sample (8 subjects, 15 rows each); a random
    # tiny model learns nothing at BERT's fine-tuning rate in a few steps.
    "downstream_train_file": os.path.join(SAMPLE_DIR, "labelled.jsonl"),
    "downstream_seeds": "1,2",
    "downstream_learning_rate": 1e-3,
    "downstream_max_seq_length": 64,
    "downstream_train_batch_size": 16,
    # The export with its int8 graph, timed on a small grid (the demo's positions end at 128).
    "serve_quantize": "int8",
    "serve_max_parity_examples": 64,
    "serve_latency_batch_sizes": "1",
    "serve_latency_seq_lengths": "32,128",
    "serve_latency_runs": 5,
    "serve_latency_seconds_per_cell": 0.2,
    "fill_mask_examples": 5,
}


def local_settings(pipeline_root):
    """Locally: no retries (a failure is a bug to see at once), cache keyed on the code too, no
    GPU asked for (the trainer takes what it sees), the training state beside the runs, a
    failed step's error line where the runner reads it."""
    from components.pipeline import definition, local

    return definition.Settings(
        retries=0, code_versions=True, num_gpus=0, checkpoint_pvc="",
        checkpoint_root=os.path.abspath(os.path.join(pipeline_root, "train_state")),
        step_errors_dir=local.step_errors_dir(pipeline_root))


def cmd_compile(args):
    from components.pipeline import definition
    from components.pipeline.remote import compile_pipeline

    compile_pipeline(definition.build_pipeline(settings_from(args)), args.output)
    print(f"wrote {args.output}")


def cmd_submit(args):
    from components.pipeline.remote import submit

    arguments = parameters.parse_assignments(args.param)
    if not arguments.get("base_model_uri"):
        raise UserError("no base model", where="--param base_model_uri",
                        fix="pass --param base_model_uri=<artifact-store URI of a Google-format "
                        "BERT directory>")

    def build(backend_version):
        from components.pipeline import definition

        return definition.build_pipeline(settings_from(args, backend_version))

    run_id = submit(build, args.host, arguments, **submit_options(args))
    print(f"started run {run_id} on {args.host}")


def demo_base_model(pipeline_root, enable_caching, verbose):
    """The tiny random BERT of data/sample (made once, then cached); returns its URI and the
    task timings."""
    from components.pipeline import definition
    from components.pipeline.local import execute

    pipeline_func = definition.build_demo_base_model_pipeline(local_settings(pipeline_root))
    outputs, clock, _ = execute(pipeline_func, {
        "bert_config_uri": os.path.join(SAMPLE_DIR, "bert_config.json"),
        "vocab_uri": os.path.join(SAMPLE_DIR, "vocab.txt")}, pipeline_root, enable_caching,
        verbose)
    return outputs["Output"].uri, clock.tasks


def cmd_run_local(args):
    from components.pipeline import definition, local

    given = parameters.parse_assignments(args.param)
    arguments = {**LOCAL_DEFAULTS, **given}
    if given.get("source_url") or given.get("input_files"):
        # The user's own source replaces the demo's, query included.
        arguments["query"] = given.get("query", "")
    if not arguments.get("source_url") and not arguments.get("input_files"):
        if not os.path.exists(SAMPLE_DB):
            raise UserError("no sample database", where=SAMPLE_DB,
                            fix="run `make run` (it builds it) or scripts/make_sample_db.py, "
                            "or pass --param source_url=... / --param input_files=...")
        arguments["source_url"] = "sqlite:///" + os.path.abspath(SAMPLE_DB)
    stages = [s for s in definition.STAGES if s != "export" or arguments.get("export_hdfs_dir")]
    base_model_tasks = {}
    if not arguments.get("base_model_uri"):
        arguments["base_model_uri"], base_model_tasks = demo_base_model(
            args.pipeline_root, not args.no_cache, args.verbose)
        stages.insert(0, "demo_base_model")
    pipeline_func = definition.build_pipeline(local_settings(args.pipeline_root))
    outputs, clock, run_dir = local.execute(pipeline_func, arguments, args.pipeline_root,
                                            not args.no_cache, args.verbose)
    artifacts = local.artifact_record(outputs)
    artifacts["base_model"] = {"uri": arguments["base_model_uri"], "metadata": {}}
    _finish(pipeline_func.name, stages, arguments, artifacts,
            {**base_model_tasks, **clock.tasks}, run_dir)


def _finish(pipeline_name, stages, arguments, artifacts, tasks, run_dir, made=None, reused=()):
    """Write the run record and print the table of steps and where the results are; `made`:
    the artifacts this run made (None: all), the others are marked as an earlier run's;
    `reused`: the tasks whose results a rerun took from the earlier run."""
    from components.pipeline import local, summary

    rows = summary.step_rows(stages, tasks, artifacts, reused)
    steps = [dict(zip(("step", "status", "seconds", "metrics"), row, strict=True))
             for row in rows]
    local.write_run_record(run_dir, pipeline_name, arguments, artifacts, steps)
    print()
    print(summary.format_table(rows))
    print()
    print("\n".join(summary.footer_lines(artifacts, run_dir, made)))


def _latest_run(pipeline_root):
    """The newest run directory of the pipeline (or of a rerun) under `pipeline_root` that
    succeeded (a run that failed has no run record)."""
    from components.pipeline import definition, local

    prefix = definition.PIPELINE_NAME + "-"
    runs = [os.path.join(pipeline_root, d) for d in os.listdir(pipeline_root)
            if d.startswith(prefix) and not d.startswith(prefix + "demo")
            and os.path.isfile(os.path.join(pipeline_root, d, local.RUN_RECORD))] \
        if os.path.isdir(pipeline_root) else []
    if not runs:
        raise UserError("no earlier run that succeeded to rerun from", where=pipeline_root,
                        fix="run `make run` first, or pass --from RUN_DIR or NAME=URI,...")
    return max(runs, key=os.path.getmtime)


def _parse_from(source, pipeline_root):
    """RUN_DIR (a local run), `latest`, or NAME=URI,NAME=URI (artifacts anywhere) →
    (parameters, artifacts)."""
    from components.pipeline import definition, local

    if source == "latest":
        source = _latest_run(pipeline_root)
        print(f"rerunning from {source}")
    if os.path.isdir(source):
        return local.read_run_record(source)
    # Artifacts from anywhere: the parameters that made them are unknown (None).
    from kfp.dsl import Metrics

    from components.common.kfp_outputs import read_metrics_file

    artifacts = {}
    for item in filter(None, (s.strip() for s in source.split(","))):
        name, sep, uri = item.partition("=")
        if not sep or name not in definition.ARTIFACTS:
            raise UserError(f"--from {item!r} is neither a run directory nor NAME=URI",
                            where="--from", fix="names: " + ", ".join(definition.ARTIFACTS))
        # A Metrics artifact's values (and what it was made from) are in its file too.
        metadata = read_metrics_file(uri) if definition.ARTIFACTS[name][0] is Metrics else {}
        artifacts[name] = {"uri": uri, "metadata": metadata}
    return None, artifacts


def cmd_rerun(args):
    from components.pipeline import definition, local

    stage = args.step.replace("-", "_")
    if stage not in definition.STAGES:
        raise UserError(f"unknown step {args.step!r}", where="STEP",
                        fix="one of " + ", ".join(definition.STAGES))
    stages = [stage] if args.only else definition.downstream(stage)
    recorded, artifacts = _parse_from(args.source, args.pipeline_root)
    needed = definition.imported_inputs(stages)
    missing = [n for n in needed if n not in artifacts]
    if missing:
        raise UserError(f"step {stage} needs {', '.join(missing)}, which {args.source} does not "
                        "have", where="--from",
                        fix="point at a run that made them, or pass NAME=URI for each")
    given = parameters.parse_assignments(args.param)
    changed = None
    if recorded is not None:
        # A run recorded by an older version may name parameters that are compile options now.
        recorded = {k: v for k, v in recorded.items() if k in parameters.BY_NAME}
        changed = {k for k, v in given.items()
                   if v != recorded.get(k, parameters.BY_NAME[k].default)}
    arguments = {**(recorded or {}), **given}
    reused = definition.reusable_tasks(stages, artifacts, changed)
    reused_names = [definition.task_name(task) for task in reused]
    # The pipeline imports those it needs: the stages' inputs and the reused tasks' results.
    inputs = {name: (a["uri"], a["metadata"]) for name, a in artifacts.items()}
    if len(stages) > 1:
        print(f"rerunning {', '.join(stages)} (every step after {stage} reads what it makes; "
              "--only reruns it alone)")
    if reused:
        print(f"reusing the earlier run's {', '.join(reused_names)} "
              "(their inputs and parameters are unchanged)")
    if args.host:
        from components.pipeline.remote import submit

        run_id = submit(lambda version: definition.build_stage_pipeline(
            stages, inputs, settings_from(args, version), reused), args.host, arguments,
            **submit_options(args))
        print(f"started run {run_id} on {args.host}")
        return
    pipeline_func = definition.build_stage_pipeline(stages, inputs,
                                                    local_settings(args.pipeline_root), reused)
    outputs, clock, run_dir = local.execute(pipeline_func, arguments, args.pipeline_root,
                                            not args.no_cache, args.verbose)
    shown = [s for s in stages if s != "export" or arguments.get("export_hdfs_dir")]
    _finish(pipeline_func.name, shown, arguments, local.artifact_record(outputs, artifacts),
            clock.tasks, run_dir, made=set(outputs), reused=reused_names)


def cmd_hdfs_import(args):
    from components.pipeline import definition

    arguments = {"hdfs_path": args.hdfs_path, "kind": args.kind, "hdfs_url": args.hdfs_url,
                 "hdfs_auth": args.hdfs_auth}
    if args.host:
        from components.pipeline.remote import submit

        run_id = submit(lambda version: definition.build_hdfs_import_pipeline(
            settings_from(args, version)), args.host, arguments, **submit_options(args))
        print(f"started run {run_id} on {args.host}; its output artifact's URI is the "
              "base_model_uri of later runs")
        return
    from components.pipeline.local import execute

    outputs, _, _ = execute(definition.build_hdfs_import_pipeline(
        local_settings(args.pipeline_root)), arguments, args.pipeline_root, not args.no_cache,
        args.verbose)
    print(f"imported {args.hdfs_path} as {outputs['Output'].uri}")


def cmd_params(args):
    width = max(len(p.name) for p in parameters.PARAMETERS)
    for p in parameters.PARAMETERS:
        default = LOCAL_DEFAULTS.get(p.name)
        local_note = f" (run-local: {default})" if default is not None else ""
        print(f"  {p.name:{width}} {p.type.__name__:5} {p.default!r}{local_note}\n"
              f"      {p.help}")


def _add_run_flags(parser, local_only=False):
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a pipeline parameter (repeatable); `params` lists them")
    parser.add_argument("--no-cache", action="store_true", help="run every step again")
    if not local_only:
        parser.add_argument("--experiment", default="edu-mlm", help="KFP experiment name")
        parser.add_argument("--run-name", default=None, help="KFP run name")


def build_parser():
    parser = ArgumentParser(prog="python pipeline.py", description=__doc__.split("\n")[0],
                            epilog="Each stage is also a plain CLI: "
                            "python -m components.<stage> --help")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compile", help="write the pipeline package (YAML) for a KFP cluster",
                       formatter_class=HelpFormatter)
    p.add_argument("--output", default="pipeline.yaml",
                   help="where to write the package; a rerun replaces it")
    add_image_flags(p)
    add_cluster_flags(p, submits=False)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("submit", help="compile and start a run on a KFP endpoint",
                       formatter_class=HelpFormatter)
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    _add_run_flags(p)
    add_image_flags(p)
    add_cluster_flags(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("run-local", help="run the whole pipeline here with kfp.local "
                       "(default: the shipped sample)",
                       formatter_class=HelpFormatter)
    _add_run_flags(p, local_only=True)
    p.add_argument("--pipeline-root", default=LOCAL_ROOT,
                   help="where runs and the cache live; each run adds its own run directory")
    p.add_argument("--verbose", action="store_true",
                   help="show the whole kfp.local log (it is always in the run's run.log)")
    p.set_defaults(func=cmd_run_local)

    p = sub.add_parser("rerun", help="run a step again and every step after it that reads what "
                       "it makes, fed by an earlier run's artifacts",
                       description="Run STEP again and every step after it that reads what it "
                       "makes, fed by an earlier run's artifacts. A task of a later step whose "
                       "inputs all come from the earlier run and whose parameters are unchanged "
                       "is not run again: its results are the earlier run's (listed as "
                       "`reused`; e.g. `rerun train` keeps the base model's evaluation and "
                       "conversion).", formatter_class=HelpFormatter)
    p.add_argument("step", metavar="STEP", help="one of " + ", ".join(parameters.STEPS))
    p.add_argument("--only", action="store_true",
                   help="rerun STEP alone: the steps after it keep the earlier run's results, "
                   "which then belong to another model or data (the report refuses such a mix)")
    p.add_argument("--from", dest="source", required=True, metavar="RUN_DIR_OR_URIS",
                   help="a local run directory (runs/local/edu-mlm-...), `latest` (the newest "
                   "local run that succeeded), or "
                   "NAME=URI,... of the step's input artifacts (names as in a run's run.json: "
                   "base_model, corpus, pretraining_data, model, ...)")
    p.add_argument("--host", default=None,
                   help="submit the one-step pipeline to this KFP endpoint instead of running "
                   "it here")
    p.add_argument("--pipeline-root", default=LOCAL_ROOT,
                   help="local runs: where runs live; each run adds its own run directory")
    p.add_argument("--verbose", action="store_true",
                   help="local runs: show the whole kfp.local log (always in run.log)")
    _add_run_flags(p)
    add_image_flags(p)
    add_cluster_flags(p)
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("hdfs-import", help="copy an HDFS model directory (or raw text) into "
                       "the artifact store, e.g. the base model",
                       formatter_class=HelpFormatter)
    p.add_argument("hdfs_path", metavar="HDFS_PATH", help="the HDFS file or directory")
    p.add_argument("--kind", choices=KINDS, default="model",
                   help="model: copy a model directory as is; corpus: clean raw text")
    p.add_argument("--hdfs-url", default="",
                   help="WebHDFS namenode URL (default: $EDU_MLM_HDFS_URL)")
    p.add_argument("--hdfs-auth", default=HdfsConnection.hdfs_auth, choices=AUTH_MODES,
                   help="HDFS authentication")
    p.add_argument("--host", default=None, help="run it on this KFP endpoint instead of here")
    p.add_argument("--pipeline-root", default=LOCAL_ROOT,
                   help="local runs: where runs live; each run adds its own run directory")
    p.add_argument("--verbose", action="store_true", help="local runs: show the whole log")
    p.add_argument("--no-cache", action="store_true", help="copy again even if cached")
    p.add_argument("--experiment", default="edu-mlm", help="KFP experiment name")
    p.add_argument("--run-name", default=None, help="KFP run name")
    add_image_flags(p)
    add_cluster_flags(p, builds_training=False)
    p.set_defaults(func=cmd_hdfs_import)

    add_manifest_commands(sub)

    p = sub.add_parser("params", help="list the pipeline parameters and their defaults")
    p.set_defaults(func=cmd_params)
    return parser


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
