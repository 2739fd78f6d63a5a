"""Write the reports the pipeline shows in the KFP UI, from artifact directories on disk.

    python -m components.report data --corpus_dir C --pretraining_data_dir D --output_file data.html
    python -m components.report model --pretraining_data_dir D \
        --trained_model_dir T --base_hf_model_dir BH --hf_model_dir H --base_eval base.json \
        --trained_eval trained.json --output_file report.html --markdown_file summary.md

`base.json`/`trained.json` are what `python -m components.evaluate --output_file` writes; the
training and parity numbers come from the model directories' manifest.json and parity.json.
"""

import json
import os

from components.common.artifacts import read_manifest
from components.common.cli import ArgumentParser
from components.common.errors import UserError, exit_on_user_error
from components.common.logs import setup_logging


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
    from components.report import write_data_report

    write_data_report(args.corpus_dir, args.pretraining_data_dir, args.output_file)


def run_model(args):
    from components.report import write_model_report

    train_manifest = read_manifest(args.trained_model_dir, kind="bert_model")
    values = write_model_report(
        pretraining_data_dir=args.pretraining_data_dir,
        data_metrics=read_manifest(args.pretraining_data_dir, kind="pretraining_data"),
        trained_model_dir=args.trained_model_dir,
        train_metrics=train_manifest,
        base_eval=_json(args.base_eval, "--base_eval"),
        trained_eval=_json(args.trained_eval, "--trained_eval"),
        base_hf_model_dir=args.base_hf_model_dir,
        hf_model_dir=args.hf_model_dir,
        parity=_json(os.path.join(args.hf_model_dir, "parity.json"), "--hf_model_dir"),
        base_parity=_json(os.path.join(args.base_hf_model_dir, "parity.json"),
                          "--base_hf_model_dir"),
        html_file=args.output_file,
        markdown_file=args.markdown_file,
        fill_mask_examples=args.fill_mask_examples,
    )
    print(json.dumps(values, indent=2, sort_keys=True))


def build_parser():
    parser = ArgumentParser(prog="python -m components.report",
                            description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="data|model")
    data = sub.add_parser("data", help="corpus and pretraining-data statistics (HTML)")
    data.add_argument("--corpus_dir", required=True, help="corpus directory (extract's output)")
    data.add_argument("--pretraining_data_dir", required=True,
                      help="pretraining-data directory (train/held-out TFRecords + manifest)")
    data.add_argument("--output_file", required=True, help="HTML file to write")
    data.set_defaults(run=run_data)

    model = sub.add_parser("model", help="training curves, before/after, fill-mask, parity")
    model.add_argument("--pretraining_data_dir", required=True,
                       help="pretraining-data directory (its held-out records feed fill-mask)")
    model.add_argument("--trained_model_dir", required=True,
                       help="the trainer's output (Google format + train_log.jsonl)")
    model.add_argument("--base_hf_model_dir", required=True,
                       help="the base model converted to transformers (with parity.json)")
    model.add_argument("--hf_model_dir", required=True,
                       help="the trained model converted to transformers (with parity.json)")
    model.add_argument("--base_eval", required=True, help="held-out metrics JSON of the base")
    model.add_argument("--trained_eval", required=True,
                       help="held-out metrics JSON of the trained model")
    model.add_argument("--output_file", required=True, help="HTML file to write")
    model.add_argument("--markdown_file", required=True, help="Markdown summary to write")
    model.add_argument("--fill_mask_examples", type=int, default=8,
                       help="held-out sentences shown with top-5 predictions")
    model.set_defaults(run=run_model)
    return parser


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
