"""Benign corpus: PyTorch checkpoints as training code writes them -- Lightning checkpoints with
rich hyper-parameters, fairseq-style and Hydra-style checkpoint dicts, optimizer/scheduler/scaler
states, whole-module saves of transformers models and of weight-normed/parametrized modules,
TorchScript, and a torch.distributed.checkpoint directory. Usage: python gen_torch.py OUTDIR."""
import argparse
import dataclasses
import datetime as dt
import enum
import functools
import io
import logging
import os
import pathlib
import sys
import uuid
import warnings

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
warnings.filterwarnings("ignore")


def skip(lib, why):
    print(f"SKIP {lib}: {why}")


try:
    import torch
    from torch import nn
except ImportError as e:
    skip("torch", str(e))
    sys.exit(0)

torch.manual_seed(0)


def path(name):
    return os.path.join(OUT, name)


class Mode(enum.Enum):
    TRAIN = "train"
    EVAL = "eval"


@dataclasses.dataclass
class DataCfg:
    root: str = "/data"
    batch_size: int = 4
    shuffle: bool = True


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


# --- optimizer, scheduler and GradScaler states ---------------------------------------------
model = TinyNet()
for opt_cls in (torch.optim.AdamW, torch.optim.SGD, torch.optim.Adam, torch.optim.RMSprop):
    opt = opt_cls(model.parameters(), lr=0.01)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    torch.save(opt.state_dict(), path(f"optim_{opt_cls.__name__}.pt"))
opt = torch.optim.AdamW(model.parameters(), lr=0.01)
for sch_name, sch in {
    "steplr": torch.optim.lr_scheduler.StepLR(opt, 2),
    "onecycle": torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10),
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10),
    "lambda": torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.95 ** e),
}.items():
    opt.step()
    sch.step()
    torch.save(sch.state_dict(), path(f"sched_{sch_name}.pt"))
scaler = torch.amp.GradScaler("cpu") if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler(enabled=False)
torch.save(scaler.state_dict(), path("gradscaler.pt"))

# --- fairseq-style checkpoint (written by hand: fairseq is not installable) ------------------
ns = argparse.Namespace(arch="transformer_tiny", lr=[0.0005], max_tokens=4096, data="/data/bin", seed=1)
torch.save({
    "args": ns,
    "cfg": {"common": {"seed": 1, "fp16": False}, "model": {"_name": "transformer_tiny", "dropout": 0.1}, "task": {"data": "/data/bin"}},
    "model": model.state_dict(),
    "optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "optimizer_name": "FairseqAdam", "lr_scheduler_state": {"best": 3.2}, "num_updates": 10}],
    "extra_state": {"epoch": 1, "val_loss": 3.2, "train_iterator": {"epoch": 1, "iterations_in_epoch": 5, "shuffle": True}},
    "last_optimizer_state": opt.state_dict(),
}, path("fairseq_style_checkpoint.pt"))
skip("omegaconf", "not installable from the offline package index (fairseq/Hydra DictConfig checkpoints not generated)")

# --- Hydra-style checkpoint with an optimizer factory partial ---------------------------------
torch.save({
    "state_dict": model.state_dict(),
    "optimizer_factory": functools.partial(torch.optim.AdamW, lr=3e-4, weight_decay=0.01),
    "scheduler_factory": functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=100),
    "hparams": {"model": {"_target_": "mypkg.models.TinyNet", "hidden": 16}, "seed": 3},
}, path("hydra_style_partial.pt"))

# --- a Hydra run's composed config, as lightning-hydra-template projects commit it ---------------
# Hydra writes .hydra/config.yaml with OmegaConf (not installable here); PyYAML writes the same
# mapping. The author's own classes sit beside torch.optim, the Lightning Trainer, callbacks
# and loggers: nothing a model loader instantiates by itself.
try:
    import yaml
    os.makedirs(path(".hydra"), exist_ok=True)
    with open(path(".hydra/config.yaml"), "w") as fh:
        yaml.safe_dump({
            "task_name": "train",
            "seed": 12345,
            "data": {"_target_": "src.data.mnist_datamodule.MNISTDataModule", "data_dir": "data/", "batch_size": 128},
            "model": {
                "_target_": "src.models.mnist_module.MNISTLitModule",
                "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.001, "weight_decay": 0.0},
                "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True, "mode": "min", "factor": 0.1},
                "net": {"_target_": "src.models.components.simple_dense_net.SimpleDenseNet", "input_size": 784, "output_size": 10},
                "compile": False,
            },
            "callbacks": {
                "model_checkpoint": {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "dirpath": "logs/checkpoints", "monitor": "val/acc", "mode": "max"},
                "early_stopping": {"_target_": "lightning.pytorch.callbacks.EarlyStopping", "monitor": "val/acc", "patience": 100},
                "rich_progress_bar": {"_target_": "lightning.pytorch.callbacks.RichProgressBar"},
            },
            "logger": {"csv": {"_target_": "lightning.pytorch.loggers.csv_logs.CSVLogger", "save_dir": "logs/", "name": "csv/"}},
            "trainer": {"_target_": "lightning.pytorch.trainer.Trainer", "default_root_dir": "logs/", "min_epochs": 1, "max_epochs": 10, "accelerator": "cpu"},
            "paths": {"root_dir": ".", "data_dir": "data/", "log_dir": "logs/"},
        }, fh, sort_keys=False)
except ImportError as e:
    skip("pyyaml", str(e))

# --- whole-module saves ------------------------------------------------------------------------
torch.save(model, path("module_main_tinynet.pt"))
wn = nn.Sequential(nn.utils.weight_norm(nn.Linear(4, 4)), nn.ReLU())
torch.save(wn, path("module_weight_norm_legacy.pt"))
from torch.nn.utils import parametrizations as P  # noqa: E402
for pname, pm in {
    "weight_norm": nn.Sequential(P.weight_norm(nn.Linear(4, 4))),
    "orthogonal": nn.Sequential(P.orthogonal(nn.Linear(4, 4))),
    "spectral_norm": nn.Sequential(P.spectral_norm(nn.Linear(4, 4))),
}.items():
    # torch refuses whole-module saves of parametrized modules; their state_dict is what ships.
    torch.save(pm.state_dict(), path(f"module_param_{pname}_state_dict.pt"))
    buf = io.BytesIO()
    try:
        torch.save(pm, buf)
        with open(path(f"module_param_{pname}.pt"), "wb") as f:
            f.write(buf.getvalue())
    except RuntimeError as e:
        skip(f"torch.save(parametrized module {pname})", str(e).splitlines()[0])

try:
    import transformers as tf
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration
    tiny = dict(vocab_size=64)
    archs = {
        "bert": BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, **tiny)),
        "gpt2": GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, **tiny)),
        "t5": T5ForConditionalGeneration(T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8, **tiny)),
        "llama": LlamaForCausalLM(LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, **tiny)),
    }
    for name, m in archs.items():
        try:
            torch.save(m, path(f"transformers_module_{name}.pt"))
        except Exception as e:  # noqa: BLE001
            skip(f"transformers torch.save(model) {name}", str(e).splitlines()[0])
        torch.save(m.state_dict(), path(f"transformers_state_dict_{name}.pt"))
except ImportError as e:
    skip("transformers", str(e))

# --- TorchScript --------------------------------------------------------------------------------
torch.jit.script(TinyNet()).save(path("torchscript_script.pt"))
torch.jit.trace(TinyNet(), torch.randn(1, 4)).save(path("torchscript_trace.pt"))

# --- torch.distributed.checkpoint directory (single process, no process group) -----------------
try:
    import torch.distributed.checkpoint as dcp
    dcp.save({"model": model.state_dict()}, checkpoint_id=path("dcp_checkpoint"))
except Exception as e:  # noqa: BLE001
    skip("torch.distributed.checkpoint", str(e).splitlines()[0])

# --- Lightning checkpoint with rich hyper-parameters ---------------------------------------
try:
    import lightning as L
except ImportError as e:
    skip("lightning", str(e))
    L = None

if L is not None:
    class LitTiny(L.LightningModule):
        def __init__(self, args, data_dir, run_id, mode, data_cfg, started, logger_ref, lr=0.01):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Linear(4, 1)

        def training_step(self, batch, _):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1)}

    ds = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8, 1))
    lit = LitTiny(
        args=argparse.Namespace(epochs=1, precision="32"),
        data_dir=pathlib.Path("/data/train"),
        run_id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        mode=Mode.TRAIN,
        data_cfg=DataCfg(),
        started=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        logger_ref=logging.getLogger("train"),
    )
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=OUT, accelerator="cpu")
    trainer.fit(lit, torch.utils.data.DataLoader(ds, batch_size=4))
    trainer.save_checkpoint(path("lightning.ckpt"))
    trainer.save_checkpoint(path("lightning_weights_only.ckpt"), weights_only=True)
