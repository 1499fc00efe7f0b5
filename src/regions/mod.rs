//! Piecewise-linear geometry: exact linear regions on 2-D slices and 1-D segments. (issue 5)
//!
//! Each unit of a ReLU-family network draws a (bent) line; the lines cut the input plane into
//! convex polygons, and on each polygon the network is one affine map. This module computes that
//! partition exactly (up to a documented f64 tolerance) on any 2-D slice of input space
//! ([`partition`]), the breakpoints along a segment ([`segment`]), a sampling estimate of the
//! number of activation patterns for higher dimensions ([`sample_patterns`]), pictures
//! ([`render`]), the regions-vs-architecture study ([`study`]) and regions during training
//! ([`monitor`]).
//!
//! Two counts are reported and named:
//! * **activation regions**: distinct activation patterns with non-zero area (the cells);
//! * **linear regions**: maximal connected sets on which the output map is one affine function
//!   (adjacent cells with equal maps merged), see [`Partition::linear_regions`].

mod merge;
pub mod monitor;
mod net;
mod plane;
pub mod render;
mod sample;
mod segment;
pub mod study;

pub use merge::{MAP_TOL_ABS, MAP_TOL_REL};
pub use net::GeoNet;
pub use plane::{
    partition, point_in_convex, polygon_area, Boundary, Partition, PlaneOptions, Slice, TOL_REL,
};
pub use sample::{sample_patterns, PatternGrowth, SampleOptions};
pub use segment::{segment, SegmentPieces};

#[cfg(test)]
mod tests;
