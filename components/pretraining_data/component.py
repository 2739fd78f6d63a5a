"""KFP components of the data-prep fan-out (dataprep image): plan the corpus's shards, make the
pretraining data of one shard (one pod each, inside `dsl.ParallelFor`), merge the shards; and, for
backends without the fan-in, all of it in one pod."""

from kfp.dsl import Dataset, Metrics, Model

from components.common.arguments import REQUIRED, Param
from components.common.kfp_component import component
from components.pretraining_data import tasks
from components.pretraining_data.arguments import (
    FANOUT_SHARDS,
    PIPELINE_FIELDS,
    PretrainingDataArguments,
)

MASKING = PretrainingDataArguments.params(PIPELINE_FIELDS)

split_corpus = component(
    "split_corpus", tasks.run_split_corpus, "pretraining_data", [FANOUT_SHARDS],
    inputs={"corpus": Dataset}, returns=list,
    doc="Cut `corpus` into `num_shards` parts (fewer for a tiny corpus), one per pod.")
pretraining_data_shard = component(
    "pretraining_data_shard", tasks.run_shard_task, "pretraining_data",
    [Param("part", dict, REQUIRED, "one item of split_corpus's plan"), *MASKING],
    inputs={"corpus": Dataset, "base_model": Model}, outputs={"pretraining_data": Dataset},
    doc="Masked-LM instances of one `part` of the corpus, with the base model's vocab.")
merge_pretraining_data = component(
    "merge_pretraining_data", tasks.run_merge_task, "pretraining_data", [],
    inputs={"shards": [Dataset]}, outputs={"pretraining_data": Dataset, "metrics": Metrics},
    doc="One pretraining-data artifact (the trainer's input) from the per-shard outputs.")
pretraining_data_whole = component(
    "pretraining_data_whole", tasks.run_whole_task, "pretraining_data", [FANOUT_SHARDS, *MASKING],
    inputs={"corpus": Dataset, "base_model": Model},
    outputs={"pretraining_data": Dataset, "metrics": Metrics},
    doc="The fan-out's records in one pod, for KFP backends without `dsl.Collected`.")
