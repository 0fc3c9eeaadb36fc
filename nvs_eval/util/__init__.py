"""The bottom layer: file helpers every stage uses, importing nothing of nvs-eval but its errors.

* :mod:`~nvs_eval.util.hashing`: a file's sha256 (inputs' signatures in the store, the weights check, caches).
* :mod:`~nvs_eval.util.atomic`: files written whole or not at all (results, reports, caches).
"""
