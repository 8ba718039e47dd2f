"""Benign corpus: statsmodels results as forecasting code (and MLflow's statsmodels flavor) saves
them with results.save(), a pickle: linear and generalised linear models, discrete choice,
mixed effects, robust regression, and the state-space time-series models whose Cython filter and
smoother objects pickle themselves from NumPy arrays. Usage: python gen_statsmodels.py OUTDIR."""
import os
import sys
import warnings

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
warnings.filterwarnings("ignore")

try:
    import numpy as np
    import pandas as pd
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    from statsmodels.tsa.statespace.structural import UnobservedComponents
    from statsmodels.tsa.statespace.varmax import VARMAX
    from statsmodels.tsa.statespace.dynamic_factor import DynamicFactor
    from statsmodels.tsa.ar_model import AutoReg
    from statsmodels.tsa.api import VAR
except ImportError as e:
    print(f"SKIP statsmodels: {e}")
    sys.exit(0)

rng = np.random.default_rng(0)
n = 80
X = sm.add_constant(rng.normal(size=(n, 2)))
y = X @ [1.0, 2.0, -1.0] + rng.normal(size=n)
df = pd.DataFrame({"y": y, "a": X[:, 1], "b": X[:, 2], "g": rng.integers(0, 4, size=n), "k": (y > 1).astype(int)})
series = pd.Series(rng.normal(size=n).cumsum() + 50, index=pd.date_range("2024-01-01", periods=n, freq="D"))
multi = pd.DataFrame({"u": rng.normal(size=n).cumsum(), "v": rng.normal(size=n).cumsum()})


def save(name, fit, **kw):
    try:
        res = fit()
        res.save(os.path.join(OUT, name), **kw)
    except Exception as e:  # a model that cannot fit here is left out, and said
        print(f"SKIP {name}: {type(e).__name__}: {e}")


save("ols.pickle", lambda: sm.OLS(y, X).fit())
save("ols_remove_data.pickle", lambda: sm.OLS(y, X).fit(), remove_data=True)
save("ols_formula.pickle", lambda: smf.ols("y ~ a + b + C(g)", df).fit())
# Formulas are evaluated again when the results are unpickled: transforms as people write them.
save("ols_formula_transforms.pickle", lambda: smf.ols("y ~ a + np.log(b + 10) + I(a ** 2) + C(g, Treatment(0)) + a:b", df).fit())
save("glm_formula.pickle", lambda: smf.glm("k ~ center(a) + standardize(b)", df, family=sm.families.Binomial()).fit())
save("wls.pickle", lambda: sm.WLS(y, X, weights=np.linspace(1, 2, n)).fit())
save("glm_poisson.pickle", lambda: sm.GLM(np.abs(y).round(), X, family=sm.families.Poisson()).fit())
save("logit.pickle", lambda: sm.Logit(df["k"], X).fit(disp=0))
save("mnlogit.pickle", lambda: sm.MNLogit(df["g"], X).fit(disp=0))
save("rlm.pickle", lambda: sm.RLM(y, X, M=sm.robust.norms.HuberT()).fit())
save("mixedlm.pickle", lambda: smf.mixedlm("y ~ a", df, groups=df["g"]).fit())
save("quantreg.pickle", lambda: smf.quantreg("y ~ a + b", df).fit(q=0.5))
save("arima.pickle", lambda: ARIMA(series, order=(1, 1, 1)).fit())
save("sarimax.pickle", lambda: SARIMAX(series, order=(1, 0, 0), seasonal_order=(1, 0, 0, 7)).fit(disp=False))
save("unobserved_components.pickle", lambda: UnobservedComponents(series, level="local linear trend").fit(disp=False))
save("varmax.pickle", lambda: VARMAX(multi.diff().dropna(), order=(1, 0)).fit(disp=False, maxiter=5))
save("dynamic_factor.pickle", lambda: DynamicFactor(multi.diff().dropna(), k_factors=1, factor_order=1).fit(disp=False, maxiter=5))
save("ets.pickle", lambda: ETSModel(series, error="add", trend="add").fit(disp=False))
save("holt_winters.pickle", lambda: ExponentialSmoothing(series, trend="add").fit())
save("autoreg.pickle", lambda: AutoReg(series, lags=2).fit())
save("var.pickle", lambda: VAR(multi.diff().dropna()).fit(2))
