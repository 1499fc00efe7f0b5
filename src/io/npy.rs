//! NPY and NPZ arrays (NumPy's formats), read and written. (issue 6)
//!
//! Placeholder signatures; the implementation lands with issue 6.

use crate::error::{Error, Result};
use crate::real::Real;
use std::path::Path;

/// An n-dimensional array read from a file: shape and row-major (C-order) data.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray<T> {
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// The values in C order.
    pub data: Vec<T>,
}

/// Read a `.npy` file of any real or integer dtype, converted to f64.
pub fn read_npy_f64(path: &Path) -> Result<NpyArray<f64>> {
    Err(Error::Unsupported(format!(
        "{}: NPY reading is not built yet",
        path.display()
    )))
}

/// Write a `.npy` file (`<f4` or `<f8`, C order), atomically.
pub fn write_npy<T: Real>(path: &Path, shape: &[usize], data: &[T]) -> Result<()> {
    let _ = (shape, data);
    Err(Error::Unsupported(format!(
        "{}: NPY writing is not built yet",
        path.display()
    )))
}
