//! Piecewise-linear geometry: exact linear regions on 2-D slices and 1-D segments. (issue 5)
