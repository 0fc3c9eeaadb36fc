"""One benchmark over many processes: ``torchrun --nproc-per-node N -m nvs_eval evaluate CONFIG --out DIR`` (also
``--nnodes`` with a rendezvous, and Slurm's ``srun`` with ``MASTER_ADDR`` / ``MASTER_PORT`` exported).

* The work is the single-process runner's list of views; each view (with every method scored against it, so its
  ground-truth side is still prepared once) goes to one rank, chosen deterministically by a greedy longest-first
  assignment on pixel count (every rank computes the same assignment, no communication).
* Rank r uses ``cuda:LOCAL_RANK`` when CUDA is present and the CPU otherwise (``nccl`` / ``gloo``).
* One store, never written by two processes: each rank writes its rows to its own shard
  (``DIR/shards/<config tag>-rank<r>-of-<n>.sqlite``) and reads, never writes, the merged ``results.sqlite`` to
  reuse what is already there. After a barrier, rank 0 merges the shards into ``results.sqlite`` with the store's
  own rule (a stored value whose inputs changed moves to ``results_history``, never silently), then deletes them.
* A rank that dies loses at most the view in flight: its shard holds every view it finished. Re-running the same
  command, with any number of ranks, first merges the shards a killed run left behind, then does the rest.
* Shards are named by a tag of the config file, so two configs writing into one folder never merge each other's
  shards while running.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..data.images import read_header
from ..data.pairing import PairedScene
from ..results.store import ResultsStore


@dataclass(frozen=True)
class Context:
    """This process's place in the job: global rank, world size, rank on its node."""

    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def context_from_env() -> Context | None:
    """The job's layout from torchrun's (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) or Slurm's (``SLURM_PROCID``,
    ``SLURM_NTASKS``, ``SLURM_LOCALID``) environment; ``None`` for a single process."""
    env = os.environ
    if "WORLD_SIZE" in env and "RANK" in env:
        ctx = Context(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))
    elif "SLURM_NTASKS" in env and "SLURM_PROCID" in env and "MASTER_ADDR" in env:
        ctx = Context(int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0)))
        env.setdefault("RANK", str(ctx.rank))
        env.setdefault("WORLD_SIZE", str(ctx.world))
    else:
        return None
    return ctx if ctx.world > 1 else None


def init(ctx: Context, device: str) -> str:
    """Join the process group (``nccl`` on GPUs, ``gloo`` on the CPU); returns this rank's device."""
    import torch
    import torch.distributed as dist

    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(ctx.local_rank % torch.cuda.device_count())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=ctx.rank, world_size=ctx.world)
    return f"cuda:{torch.cuda.current_device()}" if use_cuda else "cpu"


def barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


def gather(obj) -> list:
    """Every rank's ``obj``, on every rank."""
    import torch.distributed as dist

    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def finish() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def assign(paired: list[PairedScene], rank: int, world: int, stored: set | None = None,
           device: str = "cpu") -> list[PairedScene]:
    """This rank's share: whole batches of views (every method of a view on one rank, and views scored together
    by a single process, :func:`~nvs_eval.compute.runner.with_batches`, together here too, so the numbers are
    identical), balanced by the pixels still to score (ground-truth pixels times the renders not yet in the store,
    ``stored`` holding ``(dataset, scene, method, view)``; a stored render still costs its check), longest first
    onto the least-loaded rank; the same on every rank. Stored views stay in the split: the rank that gets one
    checks its hashes, as a single process does. ``device``: the device type the ranks score on (it decides the
    batches)."""
    from .runner import with_batches

    stored = stored or set()
    units: dict[tuple[int, int], list] = {}
    jobs = [with_batches(p.jobs, device) for p in paired]
    for i, p in enumerate(paired):
        for j, job in enumerate(jobs[i]):
            h = read_header(job.gt)
            todo = sum((p.scene.dataset, p.scene.name, m, job.view) not in stored for m in job.renders)
            unit = units.setdefault((i, job.batch), [0, p.scene.dataset, p.scene.name, job.view, i, []])
            unit[0] -= h.width * h.height * (1 + 8 * todo)
            unit[5].append(j)
    load = [0] * world
    mine: dict[int, list[int]] = {}
    for cost, _, _, _, i, js in sorted(units.values()):
        r = min(range(world), key=lambda k: (load[k], k))
        load[r] -= cost
        if r == rank:
            mine.setdefault(i, []).extend(js)
    return [replace(paired[i], jobs=[jobs[i][j] for j in sorted(js)]) for i, js in sorted(mine.items())]


def config_tag(config_path: Path) -> str:
    """A short, stable name for a config's shards."""
    path = Path(config_path).resolve()
    return f"{path.stem[:24]}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def shard_path(out: Path, tag: str, ctx: Context) -> Path:
    return Path(out) / "shards" / f"{tag}-rank{ctx.rank}-of-{ctx.world}.sqlite"


def stored_renders(store: ResultsStore, protocol: str, metrics) -> set:
    """``(dataset, scene, method, view)`` whose every metric is in ``store`` (their inputs are checked later)."""
    q = (f"SELECT dataset, scene, {store.method_sql}, view FROM results WHERE protocol = ? AND metric IN "
         f"({', '.join('?' * len(metrics))}) GROUP BY 1, 2, 3, 4 HAVING COUNT(*) = ?")
    return set(store.conn.execute(q, (protocol, *metrics, len(metrics))))


def leftover_shards(out: Path, tag: str) -> list[Path]:
    """Shards of this config still in ``out/shards`` (a killed run's, any world size)."""
    folder = Path(out) / "shards"
    return sorted(folder.glob(f"{tag}-rank*-of-*.sqlite")) if folder.is_dir() else []


def merge_shards(store: ResultsStore, shards: list[Path]) -> int:
    """Merge ``shards`` into ``store`` one transaction each, then delete them; returns the rows merged."""
    total = 0
    for path in shards:
        total += store.merge_from(path)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return total


class Progress:
    """One progress bar for the whole job, on rank 0. Every rank writes how many views it has done to a small file
    beside its shard every second (no collective call in the middle of scoring); rank 0 sums them into its bar.
    The other ranks print nothing."""

    def __init__(self, out: Path, tag: str, ctx: Context, stats, total: int, show: bool):
        import threading

        self.folder, self.tag, self.ctx, self.stats, self.total = Path(out) / "shards", tag, ctx, stats, total
        self.folder.mkdir(parents=True, exist_ok=True)
        self.file = self.folder / f"{tag}-rank{ctx.rank}-of-{ctx.world}.progress"
        self.bar = None
        if show and ctx.main:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"{ctx.world} ranks", unit="view", leave=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="nvs-eval-progress")
        self._thread.start()

    def done(self) -> int:
        """Views done across ranks, from the progress files."""
        n = 0
        for p in self.folder.glob(f"{self.tag}-rank*-of-{self.ctx.world}.progress"):
            try:
                n += int(p.read_text() or 0)
            except (OSError, ValueError):
                pass
        return n

    def _tick(self) -> None:
        tmp = self.file.with_suffix(".progress.tmp")
        tmp.write_text(str(self.stats.views))
        tmp.replace(self.file)
        if self.bar is not None:
            self.bar.n = min(self.total, self.done())
            self.bar.refresh()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._tick()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._tick()
        if self.bar is not None:
            self.bar.close()


def remove_progress(out: Path, tag: str) -> None:
    for p in (Path(out) / "shards").glob(f"{tag}-rank*.progress*"):
        p.unlink(missing_ok=True)


class ShardStore:
    """What the runner needs of a store, for one rank: rows it writes go to its shard; rows it may reuse are
    looked up in the merged store (read only) and in its own shard."""

    def __init__(self, merged: ResultsStore | None, shard: ResultsStore):
        self.merged, self.shard = merged, shard
        self.path = shard.path

    def existing(self, dataset: str, scene: str, protocol: str) -> dict:
        base = self.merged.existing(dataset, scene, protocol) if self.merged is not None else {}
        return {**base, **self.shard.existing(dataset, scene, protocol)}

    def __getattr__(self, name):  # put, put_gt_size, register_protocol, set_coverage, set_auxiliary
        return getattr(self.shard, name)
