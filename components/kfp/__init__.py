"""The KFP layer: the stages' components, generated from their specs (`generate.py`, `make
generate`) into `generated/`. Only this package and `components/pipeline` import kfp."""
