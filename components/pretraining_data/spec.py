"""The data-prep stage as the pipeline sees it (`components.common.stage_spec`), dataprep
image: plan the corpus's shards, make the pretraining data of one shard (one pod each, inside
`dsl.ParallelFor`), merge the shards; and, for backends without the fan-in, all of it in one
pod. Its fan-out is wired by `pipeline/definition.add_pretraining_data`."""

from components.common.arguments import REQUIRED, Param
from components.common.stage_spec import StageSpec, TaskSpec, list_of
from components.pretraining_data import tasks
from components.pretraining_data.arguments import (
    FANOUT_SHARDS,
    PIPELINE_FIELDS,
    MergeArguments,
    PretrainingDataArguments,
)

PART = Param("part", dict, REQUIRED, "one item of split_corpus's plan")
CORPUS_AND_BASE_MODEL = {"corpus": "Dataset", "base_model": "Model"}

PRETRAINING_DATA = StageSpec(
    name="pretraining_data", image="dataprep", package="pretraining_data", order=20,
    doc="The corpus as masked-LM instances (TFRecords), one pod per shard.",
    tasks=(
        TaskSpec("split_corpus", tasks.run_split_corpus,
                 "Cut `corpus` into `num_shards` parts (fewer for a tiny corpus), one per pod.",
                 inputs={"corpus": "Dataset"}, parameters=(FANOUT_SHARDS,), returns=list),
        TaskSpec("pretraining_data_shard", tasks.run_shard_task,
                 "Masked-LM instances of one `part` of the corpus, with the base model's vocab.",
                 inputs=CORPUS_AND_BASE_MODEL, outputs={"pretraining_data": "Dataset"},
                 arguments=PretrainingDataArguments, parameters=PIPELINE_FIELDS, wired=(PART,)),
        TaskSpec("merge_pretraining_data", tasks.run_merge_task,
                 "One pretraining-data artifact (the trainer's input) from the per-shard "
                 "outputs.",
                 inputs={"shards": list_of("Dataset")},
                 outputs={"pretraining_data": "Dataset", "metrics": "Metrics"}),
        TaskSpec("pretraining_data_whole", tasks.run_whole_task,
                 "The fan-out's records in one pod, for KFP backends without `dsl.Collected`.",
                 inputs=CORPUS_AND_BASE_MODEL,
                 outputs={"pretraining_data": "Dataset", "metrics": "Metrics"},
                 arguments=PretrainingDataArguments,
                 parameters=(FANOUT_SHARDS, *PIPELINE_FIELDS)),
    ),
    reads={"split_corpus": {"corpus": "corpus"},
           "pretraining_data_shard": {"corpus": "corpus", "base_model": "base_model"},
           "pretraining_data_whole": {"corpus": "corpus", "base_model": "base_model"}},
    makes={"pretraining_data": ("merge_pretraining_data", "pretraining_data"),
           "data_metrics": ("merge_pretraining_data", "metrics")},
    # One run parameter for extract and data prep.
    shares=("max_bad_fraction",),
    clis={("components.pretraining_data", None): PretrainingDataArguments,
          ("components.pretraining_data.merge", None): MergeArguments},
)
