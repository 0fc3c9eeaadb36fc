"""The conventions layer: what every stage agrees on, as data.

* :mod:`~nvs_eval.conventions.registry`: every metric id (built-in and plugin), the aggregations, the store's
  name, the significance level: importable without torch, so the CLI's choices and config validation are instant.
* :mod:`~nvs_eval.conventions.protocols`: the named evaluation protocols, each pinning everything that changes a
  number, with the reference code it reproduces.

Nothing is imported here, so reading the registry never loads torch.
"""
