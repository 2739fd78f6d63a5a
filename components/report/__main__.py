"""Write the reports the pipeline shows in the KFP UI, from artifact directories on disk.

    python -m components.report data --corpus_dir C --pretraining_data_dir D --output_file data.html
    python -m components.report model --pretraining_data_dir D \
        --trained_model_dir T --base_hf_model_dir BH --hf_model_dir H --base_eval base.json \
        --trained_eval trained.json --output_file report.html --markdown_file summary.md \
        [--student_dir STUDENT] [--downstream_dir DOWNSTREAM] [--serve_export_dir EXPORT]

`base.json`/`trained.json` are what `python -m components.evaluate --output_file` writes; the
training and parity numbers come from the model directories' manifest.json and parity.json, the
student's comparison with its teacher from the student directory's metrics.json, the downstream
task's figures from the downstream directory's metrics.json, the serving figures from the
serve_export directory's metrics.json.
"""

import json
import os

from components.common.artifacts import read_manifest
from components.common.cli import ArgumentParser
from components.common.disk import check_writable_location
from components.common.errors import UserError, exit_on_user_error
from components.common.logs import setup_logging
from components.report.arguments import DataReportArguments, ModelReportArguments


def _json(path, flag):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as err:
        raise UserError(f"cannot read {flag}: {err.strerror}", where=path,
                        fix="pass the JSON file the stage wrote") from err
    except ValueError as err:
        raise UserError(f"{flag} is not JSON", where=path,
                        fix="pass the JSON file the stage wrote") from err


def run_data(args):
    from components.report.data import write_data_report

    check_writable_location(args.output_file, "--output_file", expect="file")
    write_data_report(args.corpus_dir, args.pretraining_data_dir, args.output_file)


def run_model(args):
    from components.report.lineage import check_report_inputs
    from components.report.model import write_model_report

    check_writable_location(args.output_file, "--output_file", expect="file")
    check_writable_location(args.markdown_file, "--markdown_file", expect="file")
    inputs = {
        "train_metrics": read_manifest(args.trained_model_dir, kind="bert_model"),
        "data_metrics": read_manifest(args.pretraining_data_dir, kind="pretraining_data"),
        "base_eval": _json(args.base_eval, "--base_eval"),
        "trained_eval": _json(args.trained_eval, "--trained_eval"),
        "parity": _json(os.path.join(args.hf_model_dir, "parity.json"), "--hf_model_dir"),
        "base_parity": _json(os.path.join(args.base_hf_model_dir, "parity.json"),
                             "--base_hf_model_dir")}
    # The converted models' manifests name the model they came from.
    check_report_inputs(args.pretraining_data_dir, args.trained_model_dir,
                        args.base_hf_model_dir, args.hf_model_dir, inputs)
    values = write_model_report(
        pretraining_data_dir=args.pretraining_data_dir,
        trained_model_dir=args.trained_model_dir,
        base_hf_model_dir=args.base_hf_model_dir,
        hf_model_dir=args.hf_model_dir,
        html_file=args.output_file,
        markdown_file=args.markdown_file,
        fill_mask_examples=args.fill_mask_examples,
        student_dir=args.student_dir,
        downstream_dir=args.downstream_dir,
        serve_export_dir=args.serve_export_dir,
        **inputs,
    )
    print(json.dumps(values, indent=2, sort_keys=True))


COMMANDS = {"data": (DataReportArguments, run_data,
                     "corpus and pretraining-data statistics (HTML)"),
            "model": (ModelReportArguments, run_model,
                      "training curves, before/after, fill-mask, parity, the "
                      "distilled student, the downstream task, serving")}


def build_parser():
    parser = ArgumentParser(prog="python -m components.report",
                            description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="data|model")
    for name, (declaration, _, help_text) in COMMANDS.items():
        declaration.add_arguments(sub.add_parser(name, help=help_text))
    return parser


@exit_on_user_error
def main(argv=None):
    setup_logging()
    namespace = build_parser().parse_args(argv)
    declaration, run, _ = COMMANDS[namespace.command]
    run(declaration.from_namespace(namespace))


if __name__ == "__main__":
    main()
