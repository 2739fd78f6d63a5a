r"""Serve the exported model with KServe's model server (V1 and V2 protocols, REST and gRPC).

    python -m components.serve --model_dir runs/.../export --model_name edu-bert \
        --http_port 8080 [--int8 True] [--max_batch_size 32] [--max_sequence_length 128]

Fill-mask: POST /v1/models/edu-bert:predict {"instances": ["今天[MASK]气很好"],
"parameters": {"top_k": 5}}; embedding: the same with "parameters": {"task": "embedding",
"pooling": "mean"}. V2: POST /v2/models/edu-bert/infer with one BYTES input "text" [batch] and
the same parameters. Readiness: GET /v2/health/ready. A model directory that cannot be served
stops the server with one `error:` line and exit code 2; a bad request is a 400 naming what
to change, and the server goes on serving.
"""

import logging
import os

from components.common.cli import ArgumentParser, with_raw_epilog
from components.common.errors import exit_on_user_error
from components.serve.arguments import MODEL_NAME, ServeArguments

log = logging.getLogger("components.serve")


def build_parser():
    from kserve import model_server

    doc = __doc__.split("\n\n")
    # KServe's own flags (--http_port, --grpc_port, --workers, --enable_grpc, ...) come first.
    parser = ArgumentParser(prog="python -m components.serve", description=doc[0],
                            epilog="\n\n".join(doc[1:]), parents=[model_server.parser])
    parser.formatter_class = with_raw_epilog(parser.formatter_class)
    ServeArguments.add_arguments(parser)
    parser.set_defaults(model_name=MODEL_NAME)
    return parser


@exit_on_user_error
def main(argv=None):
    # kserve configures its own loggers; this package's lines go out in the same form.
    logging.basicConfig(level=os.environ.get("EDU_MLM_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from kserve import ModelServer

    from components.serve.predictor import EduBertModel

    namespace = build_parser().parse_args(argv)
    arguments = ServeArguments.from_namespace(namespace)
    model = EduBertModel(namespace.model_name, arguments)
    model.load()
    log.info("serving %s as %r on http://0.0.0.0:%d (gRPC %s)", arguments.model_dir,
             namespace.model_name, namespace.http_port,
             namespace.grpc_port if namespace.enable_grpc else "off")
    ModelServer(http_port=namespace.http_port, grpc_port=namespace.grpc_port,
                workers=namespace.workers, enable_grpc=namespace.enable_grpc,
                enable_latency_logging=namespace.enable_latency_logging).start([model])


if __name__ == "__main__":
    main()
