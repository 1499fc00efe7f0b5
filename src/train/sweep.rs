//! Sweeps (filled in below).
