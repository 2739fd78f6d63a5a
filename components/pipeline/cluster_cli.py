"""The cluster side of `pipeline.py`: the compile-time settings read from its flags, and the
commands that write Kubernetes manifests instead of running anything (`tfjob`,
`checkpoint-volume`, `serve-manifest`)."""

import argparse
import sys

from components.common.cli import HelpFormatter
from components.common.errors import UserError
from components.pipeline import parameters
from components.serve.manifest import add_arguments as add_serve_manifest_arguments


def resources_flag(stage):
    return f"--{stage.replace('_', '-')}-resources"


def settings_from(args, backend_version=None):
    """A cluster's settings from the command line (`backend_version`: the server's, if known)."""
    from components.pipeline import definition, placement

    pvc = getattr(args, "checkpoint_pvc", parameters.DEFAULT_CHECKPOINT_PVC)
    resources = tuple(
        (stage, placement.parse_resources(text, sizes, resources_flag(stage)))
        for stage, sizes in placement.default_resources().items()
        if (text := getattr(args, f"{stage}_resources", None)))
    return definition.Settings(
        registry=args.registry, tag=args.tag, secret_name=args.secret_name,
        num_gpus=getattr(args, "num_gpus", 1), checkpoint_pvc=pvc,
        checkpoint_root=definition.CHECKPOINT_MOUNT if pvc else "",
        backend_version=backend_version or args.backend_version,
        retry_max_seconds=placement.retry_seconds(
            getattr(args, "retry_max_duration", placement.DEFAULT_RETRY_MAX_DURATION)),
        gpu_tolerations=tuple(tuple(placement.parse_toleration(t).items())
                              for t in getattr(args, "gpu_toleration", ())),
        gpu_node_selector=tuple(placement.parse_node_selector(s)
                                for s in getattr(args, "gpu_node_selector", ())),
        resources=resources,
        image_references=placement.read_digests(args.digests) if args.digests else (),
        image_pull_secrets=tuple(args.image_pull_secret))


def submit_options(args):
    return dict(experiment=args.experiment, run_name=args.run_name,
                enable_caching=not args.no_cache, namespace=args.namespace,
                token_file=args.token_file, backend_version=args.backend_version)


def check_trainer_flags(train_args):
    """Refuse, in one line, flags the trainer would refuse when the pods start (a typo, a value
    out of range), before a TFJob carries them to the cluster."""
    from components.train.__main__ import build_parser
    from components.train.arguments import TrainArguments

    parser = build_parser()

    def refuse(message):
        raise UserError(f"the trainer would refuse its flags: {message}", where="TRAIN_FLAGS",
                        fix="python -m components.train --help lists them")

    parser.error = refuse
    namespace, unknown = parser.parse_known_args(train_args)
    if unknown:
        refuse(f"unrecognized arguments: {' '.join(unknown)}")
    TrainArguments.from_namespace(namespace)


def cmd_tfjob(args):
    """Write a TFJob that runs the trainer on several nodes (MultiWorkerMirroredStrategy)."""
    import yaml

    from components.common.artifacts import write_text_atomic
    from components.images import image
    from components.pipeline.placement import read_digests
    from components.train.tfjob import tfjob_manifest

    train_args = [a for a in args.train_args if a != "--"]
    if not any(a.startswith(("--input_dir", "--output_dir")) for a in train_args):
        raise UserError("no trainer flags given", where="TRAIN_FLAGS",
                        fix="append the trainer's flags after `--`, e.g. -- "
                        "--input_dir=/mnt/edu-mlm/data --output_dir=/mnt/edu-mlm/model ...")
    check_trainer_flags(train_args)
    pinned = dict(read_digests(args.digests)).get("trainer") if args.digests else None
    manifest = tfjob_manifest(args.name, pinned or image("train", args.registry, args.tag),
                              train_args, workers=args.workers,
                              gpus_per_worker=args.gpus_per_worker,
                              namespace=args.namespace, volume_claim=args.volume_claim)
    write_text_atomic(args.output, yaml.safe_dump(manifest, sort_keys=False))
    print(f"wrote {args.output} (apply it with: kubectl apply -f {args.output})")


def cmd_checkpoint_volume(args):
    """Print (or write) the checkpoint claim and the Job that makes it writable by the tasks."""
    import yaml

    from components.common.artifacts import write_text_atomic
    from components.pipeline import definition, placement, volume

    if not args.checkpoint_pvc:
        raise UserError("no claim named", where="--checkpoint-pvc", fix="name the claim")
    image_settings = definition.Settings(
        registry=args.registry, tag=args.tag,
        image_references=placement.read_digests(args.digests) if args.digests else ())
    manifests = [volume.chown_job_manifest(
        args.checkpoint_pvc, placement.image_reference("extract", image_settings),
        args.image_pull_secret, args.namespace)]
    if not args.job_only:
        manifests.insert(0, volume.claim_manifest(args.checkpoint_pvc, args.size,
                                                  args.access_mode, args.storage_class,
                                                  args.namespace))
    text = yaml.safe_dump_all(manifests, sort_keys=False)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output} (apply it with: kubectl apply -f {args.output})")


def cmd_serve_manifest(args):
    """Write (or print) the KServe objects that serve an exported model (serve/manifest.py)."""
    from components.images import SERVER_IMAGE, image_named
    from components.serve import manifest

    manifest.write(args, args.image or image_named(SERVER_IMAGE, args.registry, args.tag))


def add_image_flags(parser, pull_secrets=True):
    parser.add_argument("--registry", default=None,
                        help="image registry (default: $EDU_MLM_REGISTRY or ghcr.io/edu-mlm); "
                        "images are REGISTRY/edu-mlm-{dataprep,trainer,converter,distiller}:TAG")
    parser.add_argument("--tag", default=None,
                        help="image tag (default: $EDU_MLM_TAG, else the git commit, with a hash "
                        "of the uncommitted changes when there are any: the tag `make images` "
                        "builds from the same checkout)")
    parser.add_argument("--digests", default=None, metavar="FILE",
                        help="pin the images by digest: the JSON file `make images PUSH=1` "
                        "writes (build/image-digests.json); replaces --registry/--tag")
    if pull_secrets:
        parser.add_argument("--image-pull-secret", action="append", default=[], metavar="NAME",
                            help="a Secret (type kubernetes.io/dockerconfigjson) every pod pulls "
                            "its image with, for a private registry (repeatable)")
    parser.add_argument("--secret-name", default=parameters.DEFAULT_SECRET,
                        help="Kubernetes Secret holding the credentials (keys: " + ", ".join(
                            [*parameters.SECRET_KEYS_TO_ENV, *parameters.HDFS_SECRET_KEYS_TO_ENV])
                        + "); optional on backends that honour it (2.15+); '' = none")


def add_cluster_flags(parser, builds_training=True, submits=True):
    """What a cluster build fixes at compile time, and how `submit` reaches the server."""
    from components.pipeline import backends, placement

    if builds_training:
        parser.add_argument("--num-gpus", type=int, default=1,
                            help="GPUs of the trainer pod (nvidia.com/gpu; evaluation gets one); "
                            "the trainer stops at once if it sees fewer; 0 = CPU only")
        parser.add_argument("--checkpoint-pvc", default=parameters.DEFAULT_CHECKPOINT_PVC,
                            help="PersistentVolumeClaim for the training state (one "
                            "sub-directory per run, so a retried or rescheduled trainer pod "
                            "resumes); '' = keep it in the pod (a retry starts at step 0)")
        parser.add_argument("--retry-max-duration", default=placement.DEFAULT_RETRY_MAX_DURATION,
                            help="how long after its first start a preempted train, evaluate or "
                            "distill task is still retried (Argo's backoff.maxDuration, also the "
                            "deadline of a retried pod): longer than the longest training")
        parser.add_argument("--gpu-toleration", action="append", default=[],
                            metavar="KEY[=VALUE]:EFFECT",
                            help="a taint of the GPU nodes the GPU pods tolerate, e.g. "
                            "nvidia.com/gpu:NoSchedule (no VALUE: any value); repeatable")
        parser.add_argument("--gpu-node-selector", action="append", default=[],
                            metavar="KEY=VALUE",
                            help="a node label the GPU pods require, e.g. "
                            "nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB; repeatable")
        for stage, sizes in placement.default_resources().items():
            parser.add_argument(resources_flag(stage), default=None,
                                metavar="cpu=N,memory=M",
                                help=f"CPU and memory of the {stage} pod(s), requests and limits "
                                f"(default cpu={sizes.cpu},memory={sizes.memory}); limits above "
                                "the requests: add cpu_limit=…,memory_limit=…" + (
                                    "; the latency it measures is a pod of this size's: give it "
                                    "your serving pod's" if stage == "serve_export" else ""))
    parser.add_argument("--backend-version", default=None if submits else backends.FULL,
                        help=f"the KFP backend to compile for; below {backends.FULL} the compat "
                        "build (one pretraining-data task, required Secret); "
                        f"oldest: {backends.COMPAT_FLOOR}" + (
                            "; default: the version the server reports" if submits else ""))
    if submits:
        parser.add_argument("--namespace", default=None,
                            help="Kubeflow profile namespace of the run (multi-user Kubeflow)")
        parser.add_argument("--token-file", default=None,
                            help="file holding the API bearer token (default: $KF_PIPELINES_TOKEN"
                            ", else the file $KF_PIPELINES_SA_TOKEN_PATH, else the pod's "
                            "projected token)")


def add_manifest_commands(sub):
    """The `tfjob`, `checkpoint-volume` and `serve-manifest` sub-commands."""
    p = sub.add_parser("tfjob", help="write a Kubeflow Training Operator TFJob that trains on "
                       "several nodes (flags after `--` go to python -m components.train)",
                       formatter_class=HelpFormatter)
    p.add_argument("--output", default="tfjob.yaml",
                   help="where to write the manifest; a rerun replaces it")
    p.add_argument("--name", default="edu-mlm-train", help="the TFJob's name")
    p.add_argument("--namespace", default=None, help="Kubernetes namespace (default: kubectl's)")
    p.add_argument("--workers", type=int, default=2, help="worker pods (worker 0 is the chief)")
    p.add_argument("--gpus-per-worker", type=int, default=1, help="nvidia.com/gpu per pod")
    p.add_argument("--volume-claim", default=None,
                   help="ReadWriteMany PVC holding --input_dir and --output_dir on every pod")
    p.add_argument("train_args", nargs=argparse.REMAINDER, metavar="TRAIN_FLAGS",
                   help="the trainer's flags, after `--`")
    add_image_flags(p, pull_secrets=False)
    p.set_defaults(func=cmd_tfjob)

    p = sub.add_parser("checkpoint-volume", help="print the checkpoint claim and the one-time "
                       "Job that makes it writable by the tasks' user (pipe it to kubectl apply)",
                       formatter_class=HelpFormatter)
    p.add_argument("--checkpoint-pvc", default=parameters.DEFAULT_CHECKPOINT_PVC,
                   help="the claim's name (compile's --checkpoint-pvc)")
    p.add_argument("--namespace", default=None,
                   help="Kubernetes namespace (default: kubectl's), e.g. your Kubeflow profile's")
    p.add_argument("--size", default="50Gi",
                   help="the claim's size: about 5 GB per BERT-base run training at the same "
                   "time, and the distiller's states")
    p.add_argument("--access-mode", choices=("ReadWriteMany", "ReadWriteOnce"),
                   default="ReadWriteMany",
                   help="ReadWriteMany lets overlapping runs and a retried pod on another node "
                   "mount it at once; ReadWriteOnce only for one run at a time (README)")
    p.add_argument("--storage-class", default=None,
                   help="a storage class that provides the access mode (default: the cluster's)")
    p.add_argument("--job-only", action="store_true",
                   help="only the Job, for a claim that exists already")
    p.add_argument("--output", default="-",
                   help="where to write the manifests (- = stdout); a rerun replaces it")
    add_image_flags(p)
    p.set_defaults(func=cmd_checkpoint_volume)

    p = sub.add_parser("serve-manifest", help="write the KServe ServingRuntime and "
                       "InferenceService that serve an exported model (the export step's "
                       "output) with the server image", formatter_class=HelpFormatter)
    add_serve_manifest_arguments(p)
    p.set_defaults(func=cmd_serve_manifest)
