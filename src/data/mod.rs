//! Data: synthetic 2-D and 1-D sets, the embedded scikit-learn sets, CSV/NPY loading, splits, standardisation. (issue 3)
