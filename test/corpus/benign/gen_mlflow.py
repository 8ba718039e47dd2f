"""Benign corpus: MLflow model directories as mlflow.sklearn, mlflow.lightgbm and mlflow.pytorch
save them. The `mlflow` package is not on this project's package index, so the MLmodel and the
environment files (conda.yaml, python_env.yaml, requirements.txt) are written by hand in MLflow's
documented layout (keys sorted as yaml.safe_dump writes them, flavor keys of each save_model, pins
of the libraries that made the artefacts); the artefacts are written by the real libraries the way
those flavors write them: cloudpickle.dump / pickle.dump of scikit-learn estimators,
Booster.save_model and a pickled LGBMClassifier, torch.save with cloudpickle as pickle module.
Environments pin mlflow 2.22.0 and 3.1.4, whose known flaws are in other flavors' loaders
(low at most). Usage: python gen_mlflow.py OUTDIR. Missing libraries print SKIP and exit 0."""
import io
import os
import pickle
import platform
import sys
import warnings

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
warnings.filterwarnings("ignore")
PY = platform.python_version()


def skip(lib, why):
    print(f"SKIP {lib}: {why}")


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def model_dir(name, flavors, mlflow_version, pins, files):
    """An MLflow model directory: MLmodel, the three environment files and the artefacts."""
    for rel, data in files.items():
        write(f"{name}/{rel}", data)
    write(f"{name}/MLmodel", "artifact_path: model\nflavors:\n" + flavors + "is_signature_from_type_hint: false\n"
          f"mlflow_version: {mlflow_version}\nmodel_uuid: 5d0e2f6a1b3c4d5e6f708192a3b4c5d6\nprompts: null\n"
          "run_id: 9a8b7c6d5e4f30211203f4e5d6c7b8a9\ntype_hint_from_example: false\n"
          "utc_time_created: '2026-12-01 10:00:00.000000'\n")
    conda = "channels:\n- conda-forge\ndependencies:\n- python=" + PY + "\n- pip<=24.2\n- pip:\n" + "".join(f"  - {p}\n" for p in pins) + "name: mlflow-env\n"
    write(f"{name}/conda.yaml", conda)
    write(f"{name}/python_env.yaml", f"python: {PY}\nbuild_dependencies:\n- pip==24.2\n- setuptools==75.1.0\n- wheel==0.44.0\ndependencies:\n- -r requirements.txt\n")
    write(f"{name}/requirements.txt", "\n".join(pins))


ENV = "    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n"

try:
    import cloudpickle
    import numpy as np
    import sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
except ImportError as e:
    skip("scikit-learn/cloudpickle", str(e))
    sys.exit(0)

rng = np.random.RandomState(0)
X = rng.rand(60, 4)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
estimators = {
    "logistic": LogisticRegression().fit(X, y),
    "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
    "gbr": GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, X[:, 2]),
    "pipeline": Pipeline([("ct", ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(handle_unknown="ignore"), [3])])),
                          ("clf", LogisticRegression())]).fit(np.c_[X[:, :3], (X[:, 3] * 3).astype(int)], y),
}
sk_pins = lambda mlflow: [f"mlflow=={mlflow}", f"cloudpickle=={cloudpickle.__version__}", f"numpy=={np.__version__}", f"scikit-learn=={sklearn.__version__}"]
for name, est in estimators.items():
    for fmt, dump, mlflow in (("cloudpickle", cloudpickle.dumps, "2.22.0"), ("pickle", lambda o: pickle.dumps(o, protocol=pickle.DEFAULT_PROTOCOL), "3.1.4")):
        flavors = (f"  python_function:\n{ENV}    loader_module: mlflow.sklearn\n    model_path: model.pkl\n    predict_fn: predict\n"
                   f"    python_version: {PY}\n  sklearn:\n    code: null\n    pickled_model: model.pkl\n    serialization_format: {fmt}\n"
                   f"    sklearn_version: {sklearn.__version__}\n")
        model_dir(f"sklearn_{name}_{fmt}", flavors, mlflow, sk_pins(mlflow), {"model.pkl": dump(est)})

try:
    import lightgbm as lgb

    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), num_boost_round=3)
    clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1).fit(X, y)
    pins = ["mlflow==2.22.0", f"lightgbm=={lgb.__version__}", f"numpy=={np.__version__}"]
    for name, cls, data, payload in (("lightgbm_booster", "lightgbm.basic.Booster", "model.lgb", booster.model_to_string().encode()),
                                     ("lightgbm_sklearn", "lightgbm.sklearn.LGBMClassifier", "model.pkl", cloudpickle.dumps(clf))):
        flavors = (f"  lightgbm:\n    code: null\n    data: {data}\n    lgb_version: {lgb.__version__}\n    model_class: {cls}\n"
                   f"  python_function:\n    data: {data}\n{ENV}    loader_module: mlflow.lightgbm\n    python_version: {PY}\n")
        model_dir(name, flavors, "2.22.0", pins, {data: payload})
except ImportError as e:
    skip("lightgbm", str(e))

try:
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(8, 2))
    buf = io.BytesIO()
    torch.save(module, buf, pickle_module=cloudpickle)
    tv = torch.__version__.split("+")[0]
    flavors = (f"  python_function:\n    data: data\n{ENV}    loader_module: mlflow.pytorch\n"
               f"    pickle_module_name: mlflow.pytorch.pickle_module\n    python_version: {PY}\n"
               f"  pytorch:\n    code: null\n    model_data: data\n    pytorch_version: {tv}\n")
    model_dir("pytorch_sequential", flavors, "3.1.4", ["mlflow==3.1.4", f"cloudpickle=={cloudpickle.__version__}", f"torch=={tv}"],
              {"data/model.pth": buf.getvalue(), "data/pickle_module_info.txt": b"mlflow.pytorch.pickle_module"})
except ImportError as e:
    skip("torch", str(e))
