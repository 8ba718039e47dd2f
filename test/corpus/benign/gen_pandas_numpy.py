"""Benign corpus: pandas objects of every dtype and numpy RNG states / object arrays, saved with
pickle, pd.to_pickle (each compression), np.save and joblib. Usage: python gen_pandas_numpy.py OUTDIR."""
import datetime as dt
import os
import pickle
import sys

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def skip(lib, why):
    print(f"SKIP {lib}: {why}")


def dump(obj, name, protos=(2, 4, 5)):
    for p in protos:
        with open(os.path.join(OUT, f"{name}.p{p}.pkl"), "wb") as f:
            pickle.dump(obj, f, protocol=p)


import numpy as np  # noqa: E402

try:
    import joblib
except ImportError as e:
    skip("joblib", str(e))
    joblib = None

# numpy RNG states: Generator over each bit generator, legacy RandomState, SeedSequence.
for bg in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
    gen = np.random.Generator(getattr(np.random, bg)(1234))
    gen.random(3)
    dump(gen, f"numpy_generator_{bg}")
    dump(getattr(np.random, bg)(5), f"numpy_bitgen_{bg}", protos=(4,))
dump(np.random.default_rng(7), "numpy_default_rng")
rs = np.random.RandomState(42)
rs.rand(2)
dump(rs, "numpy_randomstate")
dump(rs.get_state(), "numpy_randomstate_tuple", protos=(2,))
dump(np.random.SeedSequence(99).spawn(2), "numpy_seedsequence")
strings = np.array(["alpha", "beta", None, "gamma"], dtype=object)
np.save(os.path.join(OUT, "numpy_object_strings.npy"), strings, allow_pickle=True)
np.savez(os.path.join(OUT, "numpy_object_strings.npz"), names=strings, values=np.arange(4))
np.save(os.path.join(OUT, "numpy_structured.npy"), np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))]))
dump(np.zeros(2, dtype=[("x", "<f4"), ("y", "U3")]), "numpy_structured")
if joblib is not None:
    joblib.dump(strings, os.path.join(OUT, "numpy_object_strings.joblib"))
    joblib.dump({"labels": strings, "rng": np.random.default_rng(3)}, os.path.join(OUT, "numpy_object_rng.joblib"), compress=3)
    joblib.dump(np.zeros(5, dtype=[("a", "<i8"), ("b", "<f8")]), os.path.join(OUT, "numpy_structured_zlib.joblib"), compress=("zlib", 3))

try:
    import pandas as pd
except ImportError as e:
    skip("pandas", str(e))
    sys.exit(0)

from zoneinfo import ZoneInfo  # noqa: E402

n = 4
cols = {
    "int": np.arange(n),
    "float": np.linspace(0, 1, n),
    "bool": [True, False, True, False],
    "object_str": ["a", "b", "c", "d"],
    "string": pd.array(["a", None, "c", "d"], dtype="string"),
    "Int64": pd.array([1, None, 3, 4], dtype="Int64"),
    "boolean": pd.array([True, None, False, True], dtype="boolean"),
    "Float64": pd.array([1.5, None, 2.5, 3.5], dtype="Float64"),
    "datetime": pd.date_range("2024-01-01", periods=n),
    "datetime_tz_zoneinfo": pd.date_range("2024-01-01", periods=n, tz=ZoneInfo("Europe/Paris")),
    "datetime_tz_utc": pd.date_range("2024-01-01", periods=n, tz="UTC"),
    "timedelta": pd.to_timedelta(np.arange(n), unit="h"),
    "period": pd.period_range("2024-01", periods=n, freq="M"),
    "categorical": pd.Categorical(["x", "y", "x", "z"]),
    "interval": pd.interval_range(0, n),
    "sparse": pd.arrays.SparseArray([0, 0, 1, 0]),
}
try:
    import pytz
    cols["datetime_tz_pytz"] = pd.date_range("2024-01-01", periods=n, tz=pytz.timezone("America/New_York"))
except ImportError as e:
    skip("pytz", str(e))
try:
    import dateutil.tz
    cols["datetime_tz_dateutil"] = pd.date_range("2024-01-01", periods=n, tz=dateutil.tz.gettz("Asia/Tokyo"))
except ImportError as e:
    skip("python-dateutil", str(e))

df = pd.DataFrame(cols)
dump(df, "pandas_dataframe_all_dtypes")
for name, col in cols.items():
    dump(pd.Series(col, name=name), f"pandas_series_{name}", protos=(4, 5))
dump(pd.Timestamp("2024-03-01 12:00", tz=ZoneInfo("UTC")), "pandas_timestamp", protos=(2, 5))
dump(pd.Timedelta("1 day"), "pandas_timedelta", protos=(5,))
dump(pd.Period("2024-01", freq="M"), "pandas_period", protos=(5,))
dump(pd.Interval(0, 1), "pandas_interval", protos=(5,))
dump(df.set_index(["object_str", "int"]), "pandas_multiindex", protos=(5,))
dump(pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(2)), "pandas_rangeindex", protos=(2,))
dump(pd.date_range("2024", periods=3, freq="D"), "pandas_datetimeindex", protos=(5,))
for comp in ("infer", "gzip", "bz2", "xz", "zip", "zstd", "tar"):
    ext = {"infer": "pkl", "gzip": "pkl.gz", "bz2": "pkl.bz2", "xz": "pkl.xz", "zip": "pkl.zip", "zstd": "pkl.zst", "tar": "pkl.tar"}[comp]
    try:
        df.to_pickle(os.path.join(OUT, f"pandas_to_pickle.{ext}"), compression=None if comp == "infer" else comp)
    except Exception as e:  # noqa: BLE001 - zstd needs the zstandard package
        skip(f"pandas to_pickle compression {comp}", str(e).splitlines()[0])
if joblib is not None:
    joblib.dump(df, os.path.join(OUT, "pandas_dataframe.joblib"))
    joblib.dump(df, os.path.join(OUT, "pandas_dataframe.joblib.xz"), compress=("xz", 3))
