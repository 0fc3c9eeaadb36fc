"""Two toy metrics: the mean absolute error (well formed) and one that returns the wrong shape."""

from nvs_eval.plugin import metric


def _mae(renders, gt):
    return (renders - gt).abs().flatten(1).mean(1)


def _one_value_too_many(renders, gt):
    return (renders - gt).abs().flatten(1).mean(1)[:, None].expand(-1, 2)


mae = metric("toy_mae", "Toy MAE", False, _mae, precision=4, about="mean absolute error over RGB in [0, 1] (a toy)")
bad_shape = metric("toy_bad_shape", "Bad shape", False, _one_value_too_many)
