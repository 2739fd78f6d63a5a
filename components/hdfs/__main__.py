"""Move artifacts between HDFS (WebHDFS) and local artifact directories.

    python -m components.hdfs import --hdfs_path /user/km_km/data/preTrain_summary_raw.txt \\
        --output_dir runs/corpus --namenode_url http://namenode:9870
    python -m components.hdfs import --kind model \\
        --hdfs_path /user/km_km/models/chinese_L-12_H-768_A-12 --output_dir runs/base_model
    python -m components.hdfs export --input_dir runs/trained_model \\
        --hdfs_path /user/km_km/models/edu-bert-2026-11 [--overwrite True]

The namenode URL and user may come from EDU_MLM_HDFS_URL / EDU_MLM_HDFS_USER instead of flags.
"""

import json

from components.common.cli import ArgumentParser
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.hdfs.arguments import HdfsExportArguments, HdfsImportArguments
from components.hdfs.transfer import export_to_hdfs, import_from_hdfs

COMMANDS = {"import": HdfsImportArguments, "export": HdfsExportArguments}


def build_parser():
    parser = ArgumentParser(prog="python -m components.hdfs",
                            description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="import|export")
    HdfsImportArguments.add_arguments(commands.add_parser(
        "import", formatter_class=parser.formatter_class,
        help="an HDFS file or directory → a corpus or model artifact"))
    HdfsExportArguments.add_arguments(commands.add_parser(
        "export", formatter_class=parser.formatter_class,
        help="an artifact directory → an HDFS directory, atomically"))
    return parser


def run_import(args):
    manifest = import_from_hdfs(args)
    print(f"imported {args.hdfs_path} as a {manifest['kind']} artifact at {args.output_dir}")
    return manifest


def run_export(args):
    summary = export_to_hdfs(args)
    print(json.dumps(summary))
    return summary


@exit_on_user_error
def main(argv=None):
    setup_logging()
    namespace = build_parser().parse_args(argv)
    args = COMMANDS[namespace.command].from_namespace(namespace)
    if namespace.command == "import":
        run_import(args)
    else:
        run_export(args)


if __name__ == "__main__":
    main()
