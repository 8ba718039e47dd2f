"""Benign corpus: scikit-learn estimators (every one of all_estimators() that fits on tiny data,
plus the compositions people ship) and LightGBM models, written by pickle and joblib the way
users save them. Usage: python gen_sklearn.py OUTDIR. Missing libraries print SKIP and exit 0."""
import os
import pickle
import sys
import warnings

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
warnings.filterwarnings("ignore")


def skip(lib, why):
    print(f"SKIP {lib}: {why}")


try:
    import numpy as np
    import joblib
except ImportError as e:  # pragma: no cover - the venv has both
    skip("numpy/joblib", str(e))
    sys.exit(0)

# Every compressor joblib registers whose library is importable (lz4 only when installed).
COMPRESSORS = []
for name in ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"]:
    try:
        joblib.dump([1], os.devnull, compress=(name, 3))
        COMPRESSORS.append(name)
    except Exception as e:  # noqa: BLE001
        skip(f"joblib compressor {name}", str(e).splitlines()[0])


def save_all(obj, name, full=True):
    """pickle protocols 2/4/5, joblib raw and each compressor (full); p5 + joblib raw otherwise."""
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for proto in (2, 4, 5) if full else (5,):
        with open(os.path.join(d, f"p{proto}.pkl"), "wb") as f:
            pickle.dump(obj, f, protocol=proto)
    joblib.dump(obj, os.path.join(d, "raw.joblib"))
    if full:
        for c in COMPRESSORS:
            joblib.dump(obj, os.path.join(d, f"{c}.joblib"), compress=(c, 3))


try:
    import sklearn
    from sklearn.utils import all_estimators
except ImportError as e:
    skip("scikit-learn", str(e))
    sklearn = None

if sklearn is not None:
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.RandomState(0)
    X = np.abs(rng.rand(30, 4)) + 0.1
    y_cls = np.array([0, 1, 2] * 10)
    y_bin = np.array([0, 1] * 15)
    y_reg = X @ np.array([1.0, 2.0, -1.0, 0.5]) + 0.01 * rng.rand(30)
    Y_multi = np.c_[y_bin, 1 - y_bin]
    texts = ["the cat sat", "a dog ran", "cats and dogs", "the dog sat", "a cat ran"] * 6

    def params_for(name, cls):
        """Required constructor arguments, filled with simple base estimators."""
        import inspect
        kw = {}
        sig = inspect.signature(cls.__init__)
        for p in sig.parameters.values():
            if p.name == "self" or p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name in ("estimator", "base_estimator"):
                kw[p.name] = LogisticRegression() if "Classif" in name or name in ("RFE", "RFECV", "SelectFromModel", "SequentialFeatureSelector", "SelfTrainingClassifier", "FixedThresholdClassifier", "TunedThresholdClassifierCV", "FrozenEstimator", "CalibratedClassifierCV", "OneVsRestClassifier", "OneVsOneClassifier", "OutputCodeClassifier") else LinearRegression()
            elif p.name == "estimators":
                kw[p.name] = [("a", LogisticRegression() if "Classif" in name else LinearRegression()), ("b", DecisionTreeClassifier() if "Classif" in name else LinearRegression())]
            elif p.name == "transformer_list":
                from sklearn.decomposition import PCA
                from sklearn.preprocessing import StandardScaler
                kw[p.name] = [("pca", PCA(n_components=2)), ("sc", StandardScaler())]
            elif p.name == "steps":
                from sklearn.preprocessing import StandardScaler
                kw[p.name] = [("sc", StandardScaler()), ("lr", LogisticRegression())]
            elif p.name == "transformers":
                from sklearn.preprocessing import StandardScaler
                kw[p.name] = [("sc", StandardScaler(), [0, 1]), ("pass", "passthrough", [2, 3])]
            elif p.name == "param_grid":
                kw[p.name] = {"C": [0.5, 1.0]}
            elif p.name == "param_distributions":
                kw[p.name] = {"C": [0.5, 1.0]}
            else:
                raise TypeError(f"required parameter {p.name}")
        if name in ("GaussianRandomProjection", "SparseRandomProjection"):
            kw["n_components"] = 2
        if name == "TSNE":
            kw["perplexity"] = 5.0
        if name == "SparseCoder":
            kw["dictionary"] = np.eye(4)
        if name == "FrozenEstimator":
            kw["estimator"] = LogisticRegression().fit(X, y_cls)
        if name == "SelfTrainingClassifier":
            kw = {"estimator": LogisticRegression()}
        if name in ("GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV"):
            kw["estimator"] = LogisticRegression()
            kw["cv"] = 2
        return kw

    def fit(name, est):
        if name in ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer"):
            return est.fit(texts)
        if name == "KernelCenterer":
            return est.fit(X @ X.T)
        if name == "DictVectorizer":
            return est.fit([{"a": 1, "b": 2}, {"a": 3}])
        if name == "FeatureHasher":
            return est.fit([{"a": 1}])
        if name in ("LabelEncoder", "LabelBinarizer"):
            return est.fit(y_cls)
        if name == "MultiLabelBinarizer":
            return est.fit([[1, 2], [3]])
        if name in ("IsotonicRegression",):
            return est.fit(X[:, 0], y_reg)
        if name == "PatchExtractor":
            return est.fit(rng.rand(2, 8, 8))
        if name.startswith("MultiTask") or name in ("MultiOutputClassifier", "ClassifierChain"):
            return est.fit(X, Y_multi if "Classif" in name or name == "ClassifierChain" else np.c_[y_reg, y_reg])
        if name in ("MultiOutputRegressor", "RegressorChain", "CCA", "PLSCanonical", "PLSRegression", "PLSSVD"):
            return est.fit(X, np.c_[y_reg, y_reg])
        if "Classif" in name or name.endswith("NB") or name in ("SVC", "NuSVC", "LinearSVC", "Perceptron", "LogisticRegression", "LogisticRegressionCV", "LinearDiscriminantAnalysis", "QuadraticDiscriminantAnalysis", "NearestCentroid", "LabelPropagation", "LabelSpreading", "CalibratedClassifierCV", "NeighborhoodComponentsAnalysis", "SelectFromModel", "RFE", "RFECV", "SequentialFeatureSelector", "GridSearchCV", "RandomizedSearchCV", "TargetEncoder", "GenericUnivariateSelect", "SelectKBest", "SelectPercentile", "SelectFdr", "SelectFpr", "SelectFwe", "OutputCodeClassifier", "Pipeline", "FrozenEstimator"):
            yy = y_bin if name in ("FixedThresholdClassifier", "TunedThresholdClassifierCV") else y_cls
            if name == "CategoricalNB":
                return est.fit((X * 3).astype(int), yy)
            return est.fit(X, yy)
        try:
            return est.fit(X, y_reg)
        except Exception:  # noqa: BLE001 - transformers and clusterers take X alone
            return est.fit(X)

    made, failed = 0, []
    for name, cls in all_estimators():
        try:
            est = cls(**params_for(name, cls))
            fit(name, est)
        except Exception as e:  # noqa: BLE001 - estimators that cannot fit on tiny data are skipped
            failed.append(f"{name} ({type(e).__name__})")
            continue
        save_all(est, f"est_{name}", full=name in ("RandomForestClassifier", "HistGradientBoostingClassifier", "KNeighborsClassifier", "TfidfVectorizer", "GaussianProcessRegressor", "Pipeline", "ExtraTreesRegressor"))
        made += 1
    if failed:
        print(f"sklearn: {made} estimators saved; not fitted on tiny data: {', '.join(failed)}")

    # The compositions issue 9 lists, built explicitly.
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
    from sklearn.gaussian_process import kernels as K
    from sklearn.neighbors import BallTree, KDTree, KNeighborsClassifier
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    extra = {}
    cats = np.array([["a", "b", "c"][i % 3] for i in range(30)], dtype=object)
    Xmix = np.empty((30, 3), dtype=object)
    Xmix[:, 0] = X[:, 0]
    Xmix[:, 1] = X[:, 1]
    Xmix[:, 2] = cats
    ct = ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(handle_unknown="ignore"), [2])])
    extra["pipe_columntransformer_hgb"] = Pipeline([("ct", ct), ("hgb", HistGradientBoostingClassifier(max_iter=5))]).fit(Xmix, y_cls)
    for kname, kern in {
        "rbf_white": K.RBF() + K.WhiteKernel(),
        "matern": K.ConstantKernel() * K.Matern(nu=1.5),
        "rq_dot": K.RationalQuadratic() + K.DotProduct(),
        "expsine": K.ExpSineSquared() * K.RBF(),
        "exponentiation": K.Exponentiation(K.RBF(), 2),
        "pairwise": K.PairwiseKernel(metric="rbf"),
    }.items():
        try:
            extra[f"gpr_{kname}"] = GaussianProcessRegressor(kernel=kern).fit(X, y_reg)
        except Exception as e:  # noqa: BLE001
            print(f"gpr {kname} not fitted: {type(e).__name__}")
    extra["gpc_matern"] = GaussianProcessClassifier(kernel=K.Matern()).fit(X, y_bin)
    extra["knn_kdtree"] = KNeighborsClassifier(algorithm="kd_tree").fit(X, y_cls)
    extra["knn_balltree"] = KNeighborsClassifier(algorithm="ball_tree").fit(X, y_cls)
    extra["kdtree"] = KDTree(X)
    extra["balltree"] = BallTree(X, metric="manhattan")
    extra["tfidf_regex"] = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", ngram_range=(1, 2)).fit(texts)
    extra["tfidf_pipeline"] = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, y_cls)
    extra["function_log1p"] = FunctionTransformer(np.log1p, inverse_func=np.expm1).fit(X)
    extra["function_pipeline"] = make_pipeline(FunctionTransformer(np.sqrt), StandardScaler(), LogisticRegression()).fit(X, y_cls)
    extra["random_forest_big"] = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y_cls)
    # A randomized search keeps its scipy.stats distributions, whose state holds the argument-parser
    # template __setstate__ runs with exec (scipy-argparser-state must accept scipy's own).
    from scipy.stats import loguniform, uniform
    from sklearn.model_selection import RandomizedSearchCV
    extra["random_search_scipy"] = RandomizedSearchCV(
        LogisticRegression(), {"C": loguniform(1e-3, 1e2), "tol": uniform(1e-5, 1e-3)}, n_iter=2, cv=2, random_state=0).fit(X, y_cls)
    # Discrete distributions keep numpy.vectorize objects (made with __new__, never called on load).
    from scipy.stats import poisson, randint
    from sklearn.ensemble import RandomForestClassifier
    extra["random_search_scipy_discrete"] = RandomizedSearchCV(
        RandomForestClassifier(n_estimators=3, random_state=0), {"max_depth": randint(2, 6), "min_samples_leaf": poisson(2)},
        n_iter=2, cv=2, random_state=0).fit(X, y_cls)
    for name, obj in extra.items():
        save_all(obj, name)

try:
    import lightgbm as lgb
except ImportError as e:
    skip("lightgbm", str(e))
    lgb = None

if lgb is not None:
    Xl = np.random.RandomState(1).rand(60, 4)
    yl = (Xl[:, 0] > 0.5).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 2}, lgb.Dataset(Xl, yl), num_boost_round=3)
    save_all(booster, "lightgbm_booster")
    clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, min_child_samples=2, verbose=-1).fit(Xl, yl)
    save_all(clf, "lightgbm_lgbmclassifier")
    reg = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, min_child_samples=2, verbose=-1).fit(Xl, Xl[:, 1])
    save_all(reg, "lightgbm_lgbmregressor", full=False)

try:
    import xgboost  # noqa: F401
except ImportError:
    skip("xgboost", "not installable from the offline package index")
