"""The prepared ground-truth side of one view, or of several views of one size, as the evaluator hands it to the
metric adapters. What each adapter prepares (SSIM moments, LPIPS features, ...) is its own entry of
:attr:`Target.prepared`; the target gathers and cuts every tensor in it alike, without knowing what it holds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


def map_tensors(f, obj):
    """``obj`` with ``f`` applied to every tensor in it: through tuples, lists, dicts and dataclass fields (a
    dataclass without tensors is returned as it is)."""
    if isinstance(obj, Tensor):
        return f(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(map_tensors(f, x) for x in obj)
    if isinstance(obj, dict):
        return {k: map_tensors(f, v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changed = {}
        for fld in dataclasses.fields(obj):
            old = getattr(obj, fld.name)
            new = map_tensors(f, old)
            if new is not old:
                changed[fld.name] = new
        return dataclasses.replace(obj, **changed) if changed else obj
    return obj


@dataclass
class Target:
    """The prepared ground-truth side of one view, or of several views of one size (a batch spanning views).

    Every tensor is batched along its first dimension, one entry per view. A target of one view broadcasts against
    any number of renders; a target of several is aligned one-to-one with the renders it scores (:meth:`take`
    gathers the views of a batch, :meth:`rows` cuts an aligned target as the renders are cut). A tiled target keeps
    no whole-image network features (they would not fit in memory); its tile features are computed once per tile
    when the predictions are scored.

    Attributes:
        image: the quantised ground truth (V, 3, H, W).
        prepared: what each adapter prepared, under keys it chooses (its kind, by convention): tensors batched by
            view, in tuples, lists, dicts or dataclasses.
        tiled: scored in tiles (:meth:`nvs_eval.compute.context.Policy.tiles`).
        mask: (V, 1, H, W) in [0, 1] for the masked metrics; ``ones``: per view, its mask is all ones (the masked
            metrics are then the plain ones).
        index: per entry, the view it was taken from (empty: entry i is view i).
        width: under a protocol's crop, the renders' full width (the prepared tensors hold the scored half).
        fit_gt: under an appearance fit, the ground truth's left half, fitted against.
    """

    image: Tensor
    prepared: dict[str, Any] = field(default_factory=dict)
    tiled: bool = False
    mask: Tensor | None = None
    ones: tuple[bool, ...] = ()
    index: tuple[int, ...] = ()
    width: int = 0
    fit_gt: Tensor | None = None
    # when not None, the adapters put each plain metric's per-pixel maps of the renders they score here, (N, H', W')
    # by metric id, from what the score computed (mapcache: the maps the report shows, kept from scoring)
    spatial: dict[str, Tensor] | None = None

    @property
    def views(self) -> int:
        return self.image.shape[0]

    @property
    def mask_is_all_ones(self) -> bool:
        return bool(self.ones) and all(self.ones)

    def view_of(self, i: int) -> int:
        return self.index[i] if self.index else i

    def aligned(self, n: int, views=None) -> Target:
        """This target aligned with n renders whose views are ``views`` (left out: render i is of view i): itself
        for one view (it broadcasts) or when render i is view i, else the views gathered (:meth:`take`)."""
        if views is None:
            if self.views not in (1, n):
                raise ValueError(f"a target of {self.views} views scores {n} renders only with `views`, the view "
                                 "of each render")
            return self
        views = [int(v) for v in views]
        if len(views) != n or any(not 0 <= v < self.views for v in views):
            raise ValueError(f"`views` must name one of the target's {self.views} views for each of the {n} "
                             f"renders, got {views}")
        if self.views == 1 or views == list(range(self.views)):
            return self
        return self.take(views)

    def take(self, index) -> Target:
        """The entries at ``index`` (a view may repeat), gathered along every prepared tensor's batch dimension:
        entry ``i`` of the result is the ground truth of render ``i`` of a batch."""
        index = [int(i) for i in index]
        idx = torch.tensor(index, dtype=torch.long, device=self.image.device)
        t = self._map(lambda x: x.index_select(0, idx.to(x.device)))
        t.ones = tuple(self.ones[i] for i in index) if self.ones else ()
        t.index = tuple(self.view_of(i) for i in index)
        return t

    def rows(self, i: int, j: int) -> Target:
        """Entries ``i:j`` of a target aligned with a batch of renders (itself when it has one view: it
        broadcasts). A view of the tensors, no copy."""
        if self.views == 1:
            return self
        t = self._map(lambda x: x[i:j])
        t.ones, t.index = self.ones[i:j], tuple(self.view_of(k) for k in range(i, min(j, self.views)))
        return t

    def _map(self, f) -> Target:
        return Target(f(self.image), map_tensors(f, self.prepared), self.tiled,
                      None if self.mask is None else f(self.mask), self.ones, width=self.width,
                      fit_gt=None if self.fit_gt is None else f(self.fit_gt))
