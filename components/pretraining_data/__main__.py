"""CLI: python -m components.pretraining_data --input_file CORPUS --output_dir DIR --vocab_file V.

Takes the flag names of Google's create_pretraining_data.py, as the users call it.
"""

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.pretraining_data.arguments import PretrainingDataArguments


def build_parser():
    return PretrainingDataArguments.parser("python -m components.pretraining_data", __doc__)


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = PretrainingDataArguments.from_namespace(build_parser().parse_args(argv))
    from components.pretraining_data.create import create_pretraining_data

    create_pretraining_data(args)


if __name__ == "__main__":
    main()
