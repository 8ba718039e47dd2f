"""Benign archives and repositories of the real ecosystem, for the benign corpus.

Usage: python gen_archives.py OUTDIR

Writes into OUTDIR:
  hf_cache_snapshot.tar, hf_cache_snapshot.tar.gz
      a Hugging Face cache directory (models--org--name/{blobs,refs,snapshots}) laid out with
      huggingface_hub's own helpers (repo_folder_name, _get_pointer_path, _create_symlink: the
      functions hf_hub_download uses), so snapshots/<rev>/<file> are relative symlinks to
      ../../blobs/<hash>; archived with Python's tarfile.
  7z/*.7z (only when a 7-Zip binary, 7zz / 7z / 7za, is on PATH; otherwise prints "SKIP 7z: ...")
      a torch state dict (torch.save) with a config and an empty file and directory, as 7-Zip
      writes it by default (LZMA2, solid), with -m0=LZMA, -m0=Copy, the BCJ filter and the
      Delta filter, and the cache snapshot above with its symlinks kept (-snl).
  repo_custom_code/
      a model repository that needs trust_remote_code: a small PreTrainedModel subclass and its
      config, registered for the auto classes and written by transformers' save_pretrained (which
      copies the Python modules and writes config.json with auto_map), weights as safetensors.
Nothing here is loaded back; no file is malicious. Exits 0.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap

CONFIG_SRC = textwrap.dedent(
    '''
    from transformers import PretrainedConfig


    class TinyConfig(PretrainedConfig):
        model_type = "tiny-custom"

        def __init__(self, hidden_size=8, num_layers=2, **kwargs):
            self.hidden_size = hidden_size
            self.num_layers = num_layers
            super().__init__(**kwargs)
    '''
)

MODELING_SRC = textwrap.dedent(
    '''
    import math

    import torch
    from torch import nn
    from transformers import PreTrainedModel

    from .configuration_tiny import TinyConfig


    class TinyBlock(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.proj = nn.Linear(hidden, hidden)
            self.norm = nn.LayerNorm(hidden)

        def forward(self, x):
            return self.norm(x + torch.tanh(self.proj(x)) / math.sqrt(2.0))


    class TinyModel(PreTrainedModel):
        config_class = TinyConfig
        base_model_prefix = "tiny"

        def __init__(self, config):
            super().__init__(config)
            self.layers = nn.ModuleList([TinyBlock(config.hidden_size) for _ in range(config.num_layers)])
            self.post_init()

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

        def forward(self, hidden_states):
            for layer in self.layers:
                hidden_states = layer(hidden_states)
            return hidden_states
    '''
)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def hf_cache(root: str) -> str:
    """A cache folder as hf_hub_download leaves it; returns the repo folder name."""
    import torch
    from huggingface_hub import file_download as fd
    from safetensors.torch import save_file

    repo_dir = fd.repo_folder_name(repo_id="example-org/tiny-model", repo_type="model")
    storage = os.path.join(root, repo_dir)
    revision = "0123456789abcdef0123456789abcdef01234567"
    tmp = tempfile.mkdtemp()
    weights = os.path.join(tmp, "model.safetensors")
    save_file({"w": torch.arange(12, dtype=torch.float32).reshape(3, 4)}, weights)
    files = {
        "config.json": b'{"model_type": "bert", "hidden_size": 4}\n',
        "model.safetensors": open(weights, "rb").read(),
        "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
    }
    os.makedirs(os.path.join(storage, "blobs"), exist_ok=True)
    os.makedirs(os.path.join(storage, "refs"), exist_ok=True)
    with open(os.path.join(storage, "refs", "main"), "w") as f:
        f.write(revision)
    for rel, data in files.items():
        # LFS files are stored under their sha256, regular files under their git blob id.
        etag = hashlib.sha256(data).hexdigest() if rel.endswith(".safetensors") else git_blob_sha1(data)
        blob = os.path.join(storage, "blobs", etag)
        with open(blob, "wb") as f:
            f.write(data)
        pointer = fd._get_pointer_path(storage, revision, rel)
        os.makedirs(os.path.dirname(pointer), exist_ok=True)
        fd._create_symlink(blob, pointer, new_blob=False)
        assert os.path.islink(pointer) and not os.path.isabs(os.readlink(pointer)), pointer
    shutil.rmtree(tmp)
    return repo_dir


def custom_code_repo(out: str) -> None:
    import torch

    pkg_root = tempfile.mkdtemp()
    pkg = os.path.join(pkg_root, "tiny_custom_pkg")
    os.makedirs(pkg)
    open(os.path.join(pkg, "__init__.py"), "w").close()
    with open(os.path.join(pkg, "configuration_tiny.py"), "w") as f:
        f.write(CONFIG_SRC)
    with open(os.path.join(pkg, "modeling_tiny.py"), "w") as f:
        f.write(MODELING_SRC)
    sys.path.insert(0, pkg_root)
    from tiny_custom_pkg.configuration_tiny import TinyConfig
    from tiny_custom_pkg.modeling_tiny import TinyModel

    TinyConfig.register_for_auto_class()
    TinyModel.register_for_auto_class("AutoModel")
    torch.manual_seed(0)
    model = TinyModel(TinyConfig())
    target = os.path.join(out, "repo_custom_code")
    model.save_pretrained(target, safe_serialization=True)
    shutil.rmtree(pkg_root)


def seven_zip_binary():
    for name in ("7zz", "7z", "7za"):
        path = shutil.which(name)
        if path:
            return path
    return None


def seven_zip(out: str, cache_root: str, repo_dir: str) -> None:
    exe = seven_zip_binary()
    if exe is None:
        print("SKIP 7z: no 7-Zip binary (7zz, 7z or 7za) on PATH; install Debian's 7zip package")
        return
    import torch

    src = tempfile.mkdtemp()
    torch.manual_seed(0)
    state = {"layer.weight": torch.randn(16, 16), "layer.bias": torch.zeros(16), "step": torch.tensor(3)}
    torch.save(state, os.path.join(src, "state_dict.pt"))
    with open(os.path.join(src, "config.json"), "w") as f:
        f.write('{"hidden_size": 16}\n')
    open(os.path.join(src, "EMPTY"), "w").close()
    os.makedirs(os.path.join(src, "empty_dir"))
    # An x86-64 executable-like member for the BCJ filter: call/jump opcodes with near targets.
    code = bytearray()
    for i in range(4000):
        code += b"\x55\x48\x89\xe5\xe8" + (0x1000 + 16 * i).to_bytes(4, "little") + b"\x5d\xc3"
    with open(os.path.join(src, "kernel.bin"), "wb") as f:
        f.write(bytes(code))
    dest = os.path.join(out, "7z")
    os.makedirs(dest, exist_ok=True)
    variants = {
        "state_dict_default.7z": [],
        "state_dict_lzma.7z": ["-m0=LZMA"],
        "state_dict_copy.7z": ["-m0=Copy"],
        "state_dict_bcj.7z": ["-m0=BCJ", "-m1=LZMA2"],
        "state_dict_delta.7z": ["-m0=Delta:4", "-m1=LZMA2"],
    }
    for name, args in variants.items():
        subprocess.run([exe, "a", "-bso0", "-bsp0", *args, os.path.join(dest, name), "."], cwd=src, check=True)
    subprocess.run([exe, "a", "-bso0", "-bsp0", "-snl", os.path.join(dest, "hf_cache_snapshot.7z"), repo_dir], cwd=cache_root, check=True)
    shutil.rmtree(src)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    cache_root = tempfile.mkdtemp()
    repo_dir = hf_cache(cache_root)
    for name, mode in (("hf_cache_snapshot.tar", "w"), ("hf_cache_snapshot.tar.gz", "w:gz")):
        with tarfile.open(os.path.join(out, name), mode) as t:
            t.add(os.path.join(cache_root, repo_dir), arcname=repo_dir)
    custom_code_repo(out)
    seven_zip(out, cache_root, repo_dir)
    shutil.rmtree(cache_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
