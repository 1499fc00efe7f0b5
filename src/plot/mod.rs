//! Plots to SVG and PNG (plotters). (issue 2, shared by every later plot)
