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

from components.common.cli import ArgumentParser, str2bool
from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.extract.arguments import ERROR_POLICIES
from components.hdfs.client import AUTH_MODES, URL_ENV, USER_ENV
from components.hdfs.transfer import export_to_hdfs, import_from_hdfs


def add_connection_flags(parser):
    parser.add_argument("--namenode_url", default=None,
                        help=f"WebHDFS URL of the namenode, e.g. http://namenode:9870 (HA: "
                             f"'http://nn1:9870;http://nn2:9870'); default: ${URL_ENV}")
    parser.add_argument("--hdfs_user", default=None,
                        help=f"user for insecure (simple) auth; default: ${USER_ENV}, then the "
                             "login name")
    parser.add_argument("--hdfs_auth", choices=AUTH_MODES, default="insecure",
                        help="insecure (user.name), token (EDU_MLM_HDFS_TOKEN) or kerberos "
                             "(SPNEGO with the pod's ticket; needs requests-kerberos)")


def build_parser():
    parser = ArgumentParser(prog="python -m components.hdfs",
                            description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="import|export")

    pull = commands.add_parser("import", formatter_class=parser.formatter_class,
                               help="an HDFS file or directory → a corpus or model artifact")
    pull.add_argument("--hdfs_path", required=True,
                      help="absolute HDFS path of a text file, a directory of text files, a "
                           "corpus artifact or a model directory")
    pull.add_argument("--output_dir", required=True, help="local artifact directory to create")
    pull.add_argument("--kind", choices=("corpus", "model"), default="corpus",
                      help="corpus: text cleaned like the extract stage (or a corpus artifact "
                           "copied); model: a model directory copied as is")
    pull.add_argument("--min_chars", type=int, default=10,
                      help="corpus: drop passages shorter than this after cleaning")
    pull.add_argument("--max_chars", type=int, default=2_000_000,
                      help="corpus: longer passages are bad rows")
    pull.add_argument("--max_bad_fraction", type=float, default=0.01,
                      help="corpus: stop when more than this share of rows are bad")
    pull.add_argument("--normalize_punctuation", type=str2bool, default=True,
                      help="corpus: map punctuation missing from Chinese BERT's vocab")
    pull.add_argument("--dedup", type=str2bool, default=True,
                      help="corpus: drop exact duplicate passages")
    pull.add_argument("--errors", choices=ERROR_POLICIES, default="strict",
                      help="corpus: invalid UTF-8 makes a bad row (strict) or becomes U+FFFD")
    pull.add_argument("--rows_per_shard", type=int, default=100_000,
                      help="corpus: passages per shard file (when --num_shards is 0)")
    pull.add_argument("--num_shards", type=int, default=0,
                      help="corpus: deal passages round-robin into this many shards")
    add_connection_flags(pull)

    push = commands.add_parser("export", formatter_class=parser.formatter_class,
                               help="an artifact directory → an HDFS directory, atomically")
    push.add_argument("--input_dir", required=True,
                      help="the artifact directory to upload (must hold manifest.json)")
    push.add_argument("--hdfs_path", required=True, help="absolute HDFS directory to create")
    push.add_argument("--overwrite", type=str2bool, default=False,
                      help="replace an existing HDFS directory (whole, never half)")
    add_connection_flags(push)
    return parser


def run_import(args):
    manifest = import_from_hdfs(
        args.hdfs_path, args.output_dir, namenode_url=args.namenode_url, user=args.hdfs_user,
        auth=args.hdfs_auth, kind=args.kind, min_chars=args.min_chars, max_chars=args.max_chars,
        normalize_punctuation=args.normalize_punctuation, dedup=args.dedup, errors=args.errors,
        max_bad_fraction=args.max_bad_fraction, rows_per_shard=args.rows_per_shard,
        num_shards=args.num_shards)
    print(f"imported {args.hdfs_path} as a {manifest['kind']} artifact at {args.output_dir}")
    return manifest


def run_export(args):
    summary = export_to_hdfs(args.input_dir, args.hdfs_path, namenode_url=args.namenode_url,
                             user=args.hdfs_user, auth=args.hdfs_auth, overwrite=args.overwrite)
    print(json.dumps(summary))
    return summary


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = build_parser().parse_args(argv)
    if args.command == "import":
        run_import(args)
    else:
        run_export(args)


if __name__ == "__main__":
    main()
