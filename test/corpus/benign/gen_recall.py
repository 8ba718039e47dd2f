"""Benign counterparts of the attack classes added for issue 9 item 3, written by the real libraries.

Usage: python gen_recall.py OUTDIR

Writes into OUTDIR:
  keras/       Keras models with preprocessing layers (inline vocabularies, adapted lookup tables
               kept in the archive's assets), .keras and legacy .h5
  onnx/        ONNX models with external data at relative locations (no links)
  safetensors/ safetensors files whose __metadata__ holds benign configs (Hydra _target_ of
               torch.optim / nemo, the author's own class, Lightning class_path)
  gguf/        GGUF files with the same configs in metadata strings
Nothing here may be reported at medium or above. A library that is missing is skipped with a
line "SKIP <lib>: reason"; the script always exits 0. It never loads what it writes.
"""
import importlib
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

HYDRA_YAML = """model:
  optim:
    _target_: torch.optim.AdamW
    lr: 0.001
    _partial_: true
  sched:
    _target_: torch.optim.lr_scheduler.CosineAnnealingLR
    T_max: 100
  encoder:
    _target_: nemo.collections.asr.modules.ConvASREncoder
    feat_in: 80
  loss:
    _target_: torch.nn.CrossEntropyLoss
"""
OWN_CLASS = {"model": {"_target_": "my_project.models.UNet", "channels": 64}}
LIGHTNING_CLI = {
    "model": {"class_path": "my_project.LitModel", "init_args": {"lr": 0.01}},
    "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01}},
    "trainer": {"callbacks": [
        {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"monitor": "val_loss"}},
        {"class_path": "EarlyStopping", "init_args": {"patience": 3}},
    ], "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "logs"}}},
}


def have(name):
    try:
        return importlib.import_module(name)
    except Exception as e:  # ImportError, or a library that fails while importing
        print(f"SKIP {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return None


def keras_models(out):
    keras = have("keras")
    if keras is None:
        return
    import numpy as np
    d = os.path.join(out, "keras")
    os.makedirs(d, exist_ok=True)
    L = keras.layers
    norm = L.Normalization(axis=-1)
    norm.adapt(np.arange(12, dtype="float32").reshape(4, 3))
    m = keras.Sequential([
        keras.Input(shape=(3,)),
        norm,
        L.Discretization(bin_boundaries=[0.0, 1.0, 2.0]),
        L.CategoryEncoding(num_tokens=4, output_mode="multi_hot"),
        L.Rescaling(0.5),
        L.Dense(2),
    ])
    m.save(os.path.join(d, "numeric_preprocessing.keras"))
    keras.saving.save_model(m, os.path.join(d, "numeric_preprocessing.h5"))
    try:
        importlib.import_module("tensorflow")
    except Exception as e:
        print(f"SKIP tensorflow: Keras lookup layers (StringLookup, IntegerLookup, TextVectorization) need it: {type(e).__name__}")
        return
    inline = keras.Sequential([keras.Input(shape=(1,), dtype="string"), L.StringLookup(vocabulary=["a", "b", "c"])])
    inline.save(os.path.join(d, "string_lookup_inline.keras"))
    ints = keras.Sequential([keras.Input(shape=(1,), dtype="int64"), L.IntegerLookup(vocabulary=[3, 5, 7])])
    ints.save(os.path.join(d, "integer_lookup_inline.keras"))
    tv = L.TextVectorization(max_tokens=20, output_sequence_length=4)
    tv.adapt(["the cat sat", "the dog ran"])  # vocabulary saved to assets/, config keeps null
    adapted = keras.Sequential([keras.Input(shape=(1,), dtype="string"), tv])
    adapted.save(os.path.join(d, "text_vectorization_adapted.keras"))
    vocab = os.path.join(d, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("a\nb\nc\n")
    from_file = keras.Sequential([keras.Input(shape=(1,), dtype="string"), L.StringLookup(vocabulary=vocab)])
    from_file.save(os.path.join(d, "string_lookup_from_file.keras"))  # Keras 3 copies the file into assets/
    os.remove(vocab)


def onnx_models(out):
    onnx = have("onnx")
    if onnx is None:
        return
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def save(d, location):
        os.makedirs(os.path.join(d, os.path.dirname(location)), exist_ok=True)
        w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "W")
        b = numpy_helper.from_array(np.ones(4, dtype=np.float32), "B")
        g = helper.make_graph(
            [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])], "g",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])], [w, b])
        onnx.save_model(helper.make_model(g), os.path.join(d, "model.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=location, size_threshold=0)

    save(os.path.join(out, "onnx", "one_file"), "model.onnx_data")
    save(os.path.join(out, "onnx", "subdir"), "data/weights.bin")
    # One file per tensor, as onnx writes by default for large models.
    d = os.path.join(out, "onnx", "per_tensor")
    os.makedirs(d, exist_ok=True)
    w = numpy_helper.from_array(np.zeros((4, 4), np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "g",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])], [w])
    onnx.save_model(helper.make_model(g), os.path.join(d, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=False, size_threshold=0)


def safetensors_files(out):
    st = have("safetensors")
    if st is None:
        return
    import numpy as np
    from safetensors.numpy import save_file
    d = os.path.join(out, "safetensors")
    os.makedirs(d, exist_ok=True)
    t = {"w": np.zeros((2, 2), np.float32)}
    save_file(t, os.path.join(d, "hydra_yaml.safetensors"), metadata={"format": "pt", "config": HYDRA_YAML})
    save_file(t, os.path.join(d, "own_class.safetensors"), metadata={"format": "pt", "config": json.dumps(OWN_CLASS)})
    save_file(t, os.path.join(d, "lightning_cli.safetensors"), metadata={"format": "pt", "cli": json.dumps(LIGHTNING_CLI)})
    save_file(t, os.path.join(d, "top_level.safetensors"), metadata={"_target_": "torch.nn.Linear", "in_features": "2", "out_features": "2"})
    save_file(t, os.path.join(d, "prose.safetensors"), metadata={"format": "pt", "notes": "trained with hydra; see _target_ and class_path in the repo"})


def gguf_files(out):
    gguf = have("gguf")
    if gguf is None:
        return
    import numpy as np
    d = os.path.join(out, "gguf")
    os.makedirs(d, exist_ok=True)
    for name, value in [("hydra_yaml.gguf", HYDRA_YAML), ("own_class.gguf", json.dumps(OWN_CLASS)), ("lightning_cli.gguf", json.dumps(LIGHTNING_CLI))]:
        g = gguf.GGUFWriter(os.path.join(d, name), "llama")
        g.add_name("modelgate-benign")
        g.add_string("training.config", value)
        g.add_tensor("w", np.zeros((32,), np.float32))
        g.write_header_to_file()
        g.write_kv_data_to_file()
        g.write_tensors_to_file()
        g.close()


def main():
    if len(sys.argv) != 2:
        print("usage: gen_recall.py OUTDIR", file=sys.stderr)
        return 0
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    # A library that is present but fails is a bug to see, not a skip: it propagates.
    for step in (keras_models, onnx_models, safetensors_files, gguf_files):
        step(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
