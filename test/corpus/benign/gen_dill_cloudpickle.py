"""Benign corpus: dill and cloudpickle by-value functions, lambdas, classes and dataclasses (the way
MLflow pyfunc saves a model's code: cloudpickle.register_pickle_by_value on the user's module),
a plain dill dump of a numpy array, and sympy expressions. Usage: python gen_dill_cloudpickle.py OUTDIR."""
import importlib
import os
import pickle
import shutil
import sys
import textwrap

sys.dont_write_bytecode = True  # nothing but the pickles may be left in OUTDIR

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def skip(lib, why):
    print(f"SKIP {lib}: {why}")


# A user module like the one MLflow pyfunc models carry (code that preprocesses inputs).
MODDIR = os.path.join(OUT, "_usercode")
os.makedirs(MODDIR, exist_ok=True)
with open(os.path.join(MODDIR, "mg_user_model.py"), "w") as f:
    f.write(textwrap.dedent('''
        import dataclasses
        import math

        SCALE = 2.5

        def preprocess(xs):
            return [math.log1p(x) * SCALE for x in xs]

        @dataclasses.dataclass
        class Config:
            threshold: float = 0.5
            labels: tuple = ("neg", "pos")

        class Model:
            def __init__(self, cfg):
                self.cfg = cfg
                self.weights = [0.1, 0.2]

            def predict(self, xs):
                return [self.cfg.labels[int(v > self.cfg.threshold)] for v in preprocess(xs)]

        def make_scaler(k):
            def scale(v):
                return v * k
            return scale
    '''))
sys.path.insert(0, MODDIR)
user = importlib.import_module("mg_user_model")
shutil.rmtree(MODDIR)

objects = {
    "function": user.preprocess,
    "lambda": lambda x: x + 1,
    "closure": user.make_scaler(3),
    "class": user.Model,
    "instance": user.Model(user.Config()),
    "dataclass": user.Config,
    "dataclass_instance": user.Config(threshold=0.7),
}

try:
    import cloudpickle
    cloudpickle.register_pickle_by_value(user)
    for name, obj in objects.items():
        for proto in (4, 5):
            with open(os.path.join(OUT, f"cloudpickle_{name}.p{proto}.pkl"), "wb") as f:
                cloudpickle.dump(obj, f, protocol=proto)
    # MLflow pyfunc's python_model.pkl: the model object plus its code by value.
    with open(os.path.join(OUT, "mlflow_style_python_model.pkl"), "wb") as f:
        cloudpickle.dump({"python_model": user.Model(user.Config()), "predict_fn": user.preprocess}, f)
    cloudpickle.unregister_pickle_by_value(user)
except ImportError as e:
    skip("cloudpickle", str(e))

try:
    import dill
    for name, obj in objects.items():
        with open(os.path.join(OUT, f"dill_{name}.pkl"), "wb") as f:
            dill.dump(obj, f, byref=False, recurse=True)
    import numpy as np
    with open(os.path.join(OUT, "dill_numpy_array.pkl"), "wb") as f:
        dill.dump(np.arange(6, dtype=np.float32).reshape(2, 3), f)
    with open(os.path.join(OUT, "dill_numpy_dict.pkl"), "wb") as f:
        dill.dump({"w": np.ones(3), "names": ["a", "b"]}, f)
except ImportError as e:
    skip("dill", str(e))

try:
    import sympy as sp
    x, y = sp.symbols("x y")
    exprs = {"poly": x**2 + 3 * x * y - 1, "trig": sp.sin(x) * sp.exp(-y), "matrix": sp.Matrix([[x, 1], [0, y]]), "eq": sp.Eq(x + y, 2), "rational": sp.Rational(3, 7) * sp.sqrt(x)}
    for name, e in exprs.items():
        with open(os.path.join(OUT, f"sympy_{name}.pkl"), "wb") as f:
            pickle.dump(e, f, protocol=4)
except ImportError as e:
    skip("sympy", str(e))
