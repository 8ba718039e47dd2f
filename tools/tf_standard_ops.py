#!/usr/bin/env python3
"""Write rules/tf-standard-ops.txt: every op the stock TensorFlow runtime registers.

    /opt/mg-venv/bin/python tools/tf_standard_ops.py

The list is the union of `tf.raw_ops` (ops with a Python wrapper) and the C API's
TF_GetAllOpList() (every op registered in the installed runtime, including internal ones such as
_Arg/_Retval that appear in function bodies). An op outside it needs a library loaded with
tf.load_op_library (native code shipped beside the model): modelgate reports it as TF_CUSTOM_OP.
Nothing is loaded or executed but TensorFlow itself.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import op_def_pb2  # noqa: E402
from tensorflow.python.client import pywrap_tf_session  # noqa: E402


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "rules", "tf-standard-ops.txt")
    ops = op_def_pb2.OpList()
    ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
    names = {o.name for o in ops.op} | {n for n in dir(tf.raw_ops) if not n.startswith("_")}
    with open(out, "w") as f:
        f.write(f"# TensorFlow standard op set: {len(names)} ops registered by tensorflow-cpu {tf.__version__}.\n")
        f.write("# Made by tools/tf_standard_ops.py: union of tf.raw_ops names and the C API's TF_GetAllOpList().\n")
        f.write("# An op outside this list needs a custom op library (native code): TF_CUSTOM_OP. One name per line.\n")
        for n in sorted(names):
            f.write(n + "\n")
    print(f"wrote {len(names)} op names to {out}")


if __name__ == "__main__":
    main()
