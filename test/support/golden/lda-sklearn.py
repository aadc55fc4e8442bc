"""Reference for src/routing/domain-model.test.ts: scikit-learn's LinearDiscriminantAnalysis on a
small random data set, with the covariance routerretriever's domain model uses (per-class
empirical covariance shrunk towards tr/d x identity, weighted by class frequency) and the log
priors taken out of the intercept (the domain model gives every domain the same prior).

    pip install scikit-learn==1.9.1 numpy && python3 test/support/golden/lda-sklearn.py
"""
import json
import os

import numpy as np
import sklearn
from sklearn.covariance import ShrunkCovariance
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

rng = np.random.default_rng(7)
d = 8
counts = {"alpha": 40, "beta": 25, "gamma": 60}
shrinkage = 0.2
rows, labels = [], []
for i, (name, n) in enumerate(counts.items()):
    mean = rng.normal(0, 1, d)
    x = mean + rng.normal(0, 0.8, (n, d)) * rng.uniform(0.5, 1.5, d)
    rows.append(x)
    labels += [name] * n
X = np.vstack(rows)
X /= np.linalg.norm(X, axis=1, keepdims=True)
queries = rng.normal(0, 1, (6, d))
queries /= np.linalg.norm(queries, axis=1, keepdims=True)
queries = np.vstack([queries, X[[0, 45, 100]]])

lda = LinearDiscriminantAnalysis(solver="lsqr", covariance_estimator=ShrunkCovariance(shrinkage=shrinkage)).fit(X, labels)
logits = queries @ lda.coef_.T + lda.intercept_ - np.log(lda.priors_)
p = np.exp(logits - logits.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
out = {
    "sklearn": sklearn.__version__,
    "shrinkage": shrinkage,
    "classes": list(lda.classes_),
    "rows": X.tolist(),
    "labels": labels,
    "queries": queries.tolist(),
    "probabilities": p.tolist(),
}
with open(os.path.join(os.path.dirname(__file__), "lda-sklearn.json"), "w") as f:
    json.dump(out, f)
