"""nvs-eval: evaluation of novel-view synthesis renders under named, reproducible protocols.

Data flows load (``nvs_eval.data``) -> pair -> compute (``nvs_eval.metrics``, ``nvs_eval.evaluate``) ->
aggregate and store (``nvs_eval.results``) -> report (``nvs_eval.report``). ``nvs_eval.api`` holds the
notebook-facing functions the CLI is a thin layer over.
"""

__version__ = "0.1.0"
