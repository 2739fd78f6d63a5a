"""Compare two BERT masked-LM models (a distilled student and its teacher) on held-out records.

    python -m components.distill.evaluate --teacher_dir TEACHER --student_dir STUDENT \
        --input_dir PRETRAINING_DATA [--output_file metrics.json]

Prints the comparison as a table; --output_file also writes it as JSON.
"""

import json
import logging

from components.common.errors import exit_on_user_error
from components.common.logs import setup_logging
from components.distill.arguments import CompareArguments

log = logging.getLogger(__name__)


def build_parser():
    return CompareArguments.parser("python -m components.distill.evaluate",
                                   __doc__.split("\n")[0])


def summary_table(result):
    """The comparison as a few aligned lines of text."""
    rows = [("", "teacher", "student")]
    for key, label, form in (("masked_lm_accuracy", "masked-LM accuracy", "{:.4f}"),
                             ("masked_lm_loss", "masked-LM loss", "{:.4f}"),
                             ("perplexity", "perplexity", "{:.2f}"),
                             ("num_parameters", "parameters", "{:,}"),
                             ("num_hidden_layers", "layers", "{}"),
                             ("hidden_size", "hidden size", "{}")):
        rows.append((label, form.format(result["teacher"][key]),
                     form.format(result["student"][key])))
    for device, speed in result.get("speed", {}).items():
        measured = speed["measured"]
        rows.append((f"{device} sequences/s", *(f"{measured[m]['sequences_per_second']:.1f}"
                                                for m in ("teacher", "student"))))
        rows.append((f"{device} latency ms (p50)", *(f"{measured[m]['latency_ms_p50']:.2f}"
                                                     for m in ("teacher", "student"))))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b:>12}  {c:>12}" for a, b, c in rows]
    share = result["student_accuracy_share"]
    lines.append(f"held-out: {result['examples']} examples, {result['masked_positions']} masked "
                 f"positions; student top-1 agreement {result['student_top1_agreement']:.4f}, "
                 f"accuracy share {'n/a' if share is None else f'{share:.4f}'}")
    for device, speed in result.get("speed", {}).items():
        lines.append(f"{device} speed-up: {speed['throughput']:.2f}x throughput, "
                     f"{speed['latency']:.2f}x latency")
    return "\n".join(lines)


@exit_on_user_error
def main(argv=None):
    setup_logging()
    args = CompareArguments.from_namespace(build_parser().parse_args(argv))
    from components.distill.compare import compare_models

    result = compare_models(args)
    print(summary_table(result))
    log.debug("%s", json.dumps(result))
    return result


if __name__ == "__main__":
    main()
