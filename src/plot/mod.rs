//! Plots to SVG and PNG, shared by every plot relulab draws (issue 2).
//!
//! A [`Figure`] is a grid of panels; a panel is a [`LineChart`] (several named series, optional
//! log-scale y, axis labels, title, legend) or a [`Histogram`]. A figure renders to an in-memory
//! SVG string ([`Figure::to_svg`], for the HTML report to inline), to PNG bytes
//! ([`Figure::to_png`]), or to a file whose extension (`.svg` / `.png`) picks the format
//! ([`Figure::save`]; written to a temporary file in the same directory, synced, then renamed,
//! so a failed run never leaves half a file).
//!
//! Text in PNGs is rendered with the bundled DejaVu Sans (src/plot/font/, Bitstream Vera
//! licence next to it) through plotters' `ab_glyph` feature: no system fonts are needed.
//!
//! ```
//! use relulab::plot::{Figure, LineChart};
//! let xs: Vec<f64> = (0..=40).map(|i| -2.0 + 0.1 * i as f64).collect();
//! let chart = LineChart::new("ReLU")
//!     .labels("x", "f(x)")
//!     .series("relu", xs.iter().map(|&x| (x, x.max(0.0))).collect());
//! let svg = Figure::single(chart).to_svg().unwrap();
//! assert!(svg.contains("relu"));
//! ```

pub mod activations;

pub use activations::activation_figure;

use crate::error::{Error, Result};
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
use std::sync::OnceLock;

/// The bundled font (DejaVu Sans, Bitstream Vera licence: src/plot/font/LICENSE-DejaVu.txt).
static DEJAVU_SANS: &[u8] = include_bytes!("font/DejaVuSans.ttf");

/// The family name every plot asks for.
const FAMILY: &str = "sans-serif";

/// Register the bundled font once per process (plotters keeps a global font table).
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Output(
            "plot: the bundled DejaVu Sans font failed to load".into(),
        ))
    }
}

// The one visual style of every relulab figure: the HTML report's stylesheet takes its colours
// and font from the same constants (`report::STYLE` is built from them), so pages and plots
// match without a second list.

/// Font size of a panel title, in pixels.
pub const TITLE_SIZE: u32 = 18;
/// Font size of an axis label (name and unit), in pixels.
pub const AXIS_LABEL_SIZE: u32 = 14;
/// Font size of tick labels, in pixels.
pub const TICK_SIZE: u32 = 12;
/// Font size of legend entries, in pixels.
pub const LEGEND_SIZE: u32 = 12;
/// Stroke width of a series, in pixels.
pub const LINE_WIDTH: u32 = 2;
/// Size of one panel of a multi-panel figure (width, height) in pixels.
pub const PANEL: (u32, u32) = (480, 340);
/// Width of a row of panels ([`Figure::row`]): the report's text column, so figures are shown
/// at their natural size and every figure's text has the same size on the page.
pub const ROW_WIDTH: u32 = 960;
/// Size of a figure's only panel when it carries many series (width, height) in pixels.
pub const WIDE_PANEL: (u32, u32) = (720, 380);
/// Colour of text and axes.
pub const INK: RGBColor = RGBColor(34, 34, 34);
/// Colour of the light grid lines.
pub const GRID: RGBColor = RGBColor(235, 235, 235);
/// Colour of a passing check (the report's PASS cells).
pub const PASS_COLOUR: RGBColor = RGBColor(26, 122, 52);
/// Colour of a failing check (the report's FAIL cells).
pub const FAIL_COLOUR: RGBColor = RGBColor(178, 24, 43);

/// `#rrggbb` of a colour (for the report's stylesheet).
pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The sequential colour map of every ordered quantity: viridis at nine stops (R's
/// `viridisLite::viridis(9)`: #440154 #472D7B #3B528B #2C728E #21908C #27AD81 #5DC863 #AADC32
/// #FDE725), linearly interpolated: t = 0 dark blue, t = 1 yellow; t is clamped to [0, 1].
/// Perceptually ordered and readable in grey scale, so neighbouring values are told apart
/// without looking random.
pub fn sequential(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 45.0, 123.0),
        (59.0, 82.0, 139.0),
        (44.0, 114.0, 142.0),
        (33.0, 144.0, 140.0),
        (39.0, 173.0, 129.0),
        (93.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let t = t * (STOPS.len() - 1) as f64;
    let k = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |x: f64, y: f64| (x + f * (y - x)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A colour legend for a picture coloured by [`sequential`]: a vertical bar from `lo`
/// (bottom) to `hi` (top) with labelled ticks and a title, drawn in a strip
/// [`ColourBar::WIDTH`] pixels wide beside the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct ColourBar {
    /// What the colour means, with its unit (e.g. "active units").
    pub title: String,
    /// Value at the bottom of the bar.
    pub lo: f64,
    /// Value at the top of the bar.
    pub hi: f64,
    /// Integer-valued quantity: one swatch per value (up to 24 values), integer ticks.
    pub integer: bool,
}

impl ColourBar {
    /// Width of the legend strip in pixels.
    pub const WIDTH: u32 = 150;

    /// The colour of value `v` on this bar.
    pub fn colour(&self, v: f64) -> RGBColor {
        if self.hi > self.lo {
            sequential((v - self.lo) / (self.hi - self.lo))
        } else {
            sequential(0.5)
        }
    }

    /// Draw the legend into `area` (its full height is used; the bar leaves room for the title).
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        ensure_font()?;
        let (_, h) = area.dim_in_pixel();
        let h = h as i32;
        area.fill(&WHITE).map_err(plot_err)?;
        let text = |s: &str, x: i32, y: i32, size: u32, vpos: VPos| -> Result<()> {
            let style = TextStyle::from((FAMILY, size).into_font())
                .color(&INK)
                .pos(Pos::new(HPos::Left, vpos));
            area.draw(&Text::new(s.to_string(), (x, y), style))
                .map_err(plot_err)
        };
        text(&self.title, 10, 12, LEGEND_SIZE + 1, VPos::Top)?;
        let (x0, x1) = (14, 40);
        let (top, bottom) = (44, (h - 24).max(60));
        let span = (bottom - top) as f64;
        let y_of = |t: f64| bottom - (t * span).round() as i32;
        let levels = if self.integer && self.hi >= self.lo {
            (self.hi - self.lo).round() as i64 + 1
        } else {
            0
        };
        let mut ticks: Vec<f64> = Vec::new();
        if (1..=24).contains(&levels) {
            // One swatch per integer value, value v centred at (v - lo + 0.5) / levels.
            let step = if levels <= 12 { 1 } else { (levels + 5) / 6 };
            for k in 0..levels {
                let v = self.lo + k as f64;
                let (ya, yb) = (
                    y_of(k as f64 / levels as f64),
                    y_of((k + 1) as f64 / levels as f64),
                );
                area.draw(&Rectangle::new(
                    [(x0, yb), (x1, ya)],
                    self.colour(v).filled(),
                ))
                .map_err(plot_err)?;
                if k % step == 0 || k == levels - 1 {
                    ticks.push(v);
                }
            }
            for &v in &ticks {
                let y = y_of((v - self.lo + 0.5) / levels as f64);
                text(&tick_label(v), x1 + 8, y, TICK_SIZE, VPos::Center)?;
            }
        } else {
            let strips = 64;
            for k in 0..strips {
                let (ta, tb) = (k as f64 / strips as f64, (k + 1) as f64 / strips as f64);
                area.draw(&Rectangle::new(
                    [(x0, y_of(tb)), (x1, y_of(ta))],
                    sequential((ta + tb) / 2.0).filled(),
                ))
                .map_err(plot_err)?;
            }
            for k in 0..=4 {
                let t = k as f64 / 4.0;
                let v = self.lo + t * (self.hi - self.lo);
                let v = if self.integer { v.round() } else { v };
                text(&tick_label(v), x1 + 8, y_of(t), TICK_SIZE, VPos::Center)?;
            }
        }
        area.draw(&Rectangle::new(
            [(x0, top), (x1, bottom)],
            INK.stroke_width(1),
        ))
        .map_err(plot_err)?;
        Ok(())
    }
}

/// A categorical palette (Tableau 10 plus two), so up to 12 series stay distinguishable.
pub const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 64, 0),
];

/// One named line of a [`LineChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// (x, y) points, drawn in order. Non-finite points (and y ≤ 0 on a log axis) are skipped.
    pub points: Vec<(f64, f64)>,
    /// Colour; `None` takes the next colour of [`PALETTE`].
    pub color: Option<RGBColor>,
    /// Draw dashed instead of solid.
    pub dashed: bool,
}

/// A line chart: several named series, axis labels, title, legend, optional log-scale y.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LineChart {
    /// Title above the panel.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Logarithmic y axis (base 10).
    pub log_y: bool,
    /// Fixed x range; `None` fits the data.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range; `None` fits the data (with a 5% margin).
    pub y_range: Option<(f64, f64)>,
    /// Put the legend in the lower left corner instead of the upper left (for falling curves).
    pub legend_lower_left: bool,
}

impl LineChart {
    /// An empty chart with a title.
    pub fn new(title: impl Into<String>) -> Self {
        LineChart {
            title: title.into(),
            ..Default::default()
        }
    }

    /// Set the axis labels.
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }

    /// Add a solid series in the next palette colour.
    pub fn series(mut self, name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
            color: None,
            dashed: false,
        });
        self
    }

    /// Add a fully specified series.
    pub fn with_series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Use a log-scale y axis.
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }

    /// Fix the x range.
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }

    /// Fix the y range.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Draw the legend in the lower left corner (where curves that fall from the upper left
    /// leave room).
    pub fn legend_lower_left(mut self) -> Self {
        self.legend_lower_left = true;
        self
    }
}

/// A histogram of values in equal-width bins.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Histogram {
    /// Title above the panel.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label (counts).
    pub y_label: String,
    /// The sample; non-finite values are ignored (and counted in [`Histogram::counts`]' caller).
    pub values: Vec<f64>,
    /// Number of bins (at least 1).
    pub bins: usize,
    /// Range of the bins; `None` takes the finite min and max. Values outside are ignored.
    pub range: Option<(f64, f64)>,
    /// Logarithmic count axis.
    pub log_y: bool,
}

impl Histogram {
    /// A histogram of `values` in `bins` bins.
    pub fn new(title: impl Into<String>, values: Vec<f64>, bins: usize) -> Self {
        Histogram {
            title: title.into(),
            x_label: String::new(),
            y_label: "count".into(),
            values,
            bins,
            range: None,
            log_y: false,
        }
    }

    /// Set the axis labels.
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }

    /// The bin range actually used and the count of each bin. Bin i covers
    /// [lo + i·w, lo + (i+1)·w), the last bin also includes hi.
    pub fn counts(&self) -> ((f64, f64), Vec<u64>) {
        let bins = self.bins.max(1);
        let finite = self.values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = match self.range {
            Some(r) => r,
            None => {
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for v in finite.clone() {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                if lo > hi {
                    (0.0, 1.0)
                } else {
                    (lo, hi)
                }
            }
        };
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        };
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0u64; bins];
        for v in finite {
            if v < lo || v > hi {
                continue;
            }
            let i = (((v - lo) / width) as usize).min(bins - 1);
            counts[i] += 1;
        }
        ((lo, hi), counts)
    }
}

/// Grouped bars: one group of bars per category (e.g. per initialisation), one colour per
/// named group (e.g. "born dead", "collapsed"), from 0 up to each value.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Bars {
    /// Title above the panel.
    pub title: String,
    /// x-axis label (what the categories are).
    pub x_label: String,
    /// y-axis label (what the bars measure, with unit).
    pub y_label: String,
    /// Category names, left to right.
    pub categories: Vec<String>,
    /// Named groups of values, one value per category (missing values are not drawn).
    pub groups: Vec<(String, Vec<f64>)>,
}

impl Bars {
    /// An empty bar chart with a title.
    pub fn new(title: impl Into<String>) -> Self {
        Bars {
            title: title.into(),
            ..Default::default()
        }
    }
    /// Set the axis labels.
    pub fn labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }
    /// Set the categories.
    pub fn categories(mut self, names: Vec<String>) -> Self {
        self.categories = names;
        self
    }
    /// Add a named group of values (one per category), in the next palette colour.
    pub fn group(mut self, name: impl Into<String>, values: Vec<f64>) -> Self {
        self.groups.push((name.into(), values));
        self
    }
}

/// One panel of a [`Figure`].
#[derive(Clone, Debug, PartialEq)]
pub enum Panel {
    /// A line chart.
    Line(LineChart),
    /// A histogram.
    Histogram(Histogram),
    /// Grouped bars.
    Bars(Bars),
    /// A 2-D scalar field with a feasibility mask (issue 13).
    Field(FieldMap),
}

impl From<Bars> for Panel {
    fn from(b: Bars) -> Self {
        Panel::Bars(b)
    }
}

impl From<LineChart> for Panel {
    fn from(c: LineChart) -> Self {
        Panel::Line(c)
    }
}

impl From<Histogram> for Panel {
    fn from(h: Histogram) -> Self {
        Panel::Histogram(h)
    }
}

/// Output format, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics.
    Svg,
    /// Portable network graphics (RGB, 8 bit).
    Png,
}

impl Format {
    /// The format named by `path`'s extension (case-insensitive `.svg` or `.png`).
    pub fn from_path(path: &Path) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(Error::Value(format!(
                "{}: unknown plot format; the file name must end in .svg or .png",
                path.display()
            ))),
        }
    }
}

/// A grid of panels, filled row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The panels.
    pub panels: Vec<Panel>,
    /// Panels per row (at least 1).
    pub columns: usize,
    /// Size of one panel in pixels (width, height).
    pub panel_size: (u32, u32),
}

impl Figure {
    /// A figure of one panel, [`WIDE_PANEL`] pixels.
    pub fn single(panel: impl Into<Panel>) -> Self {
        Figure {
            panels: vec![panel.into()],
            columns: 1,
            panel_size: WIDE_PANEL,
        }
    }

    /// A grid of panels with `columns` per row, each [`PANEL`] pixels.
    pub fn grid(panels: Vec<Panel>, columns: usize) -> Self {
        Figure {
            panels,
            columns: columns.max(1),
            panel_size: PANEL,
        }
    }

    /// One row of panels sharing [`ROW_WIDTH`] pixels, [`PANEL`] high.
    pub fn row(panels: Vec<Panel>) -> Self {
        let n = panels.len().max(1);
        Figure {
            panels,
            columns: n,
            panel_size: (ROW_WIDTH / n as u32, PANEL.1),
        }
    }

    /// Set the size of one panel.
    pub fn panel_size(mut self, width: u32, height: u32) -> Self {
        self.panel_size = (width, height);
        self
    }

    /// Total size in pixels (width, height).
    pub fn size(&self) -> (u32, u32) {
        let cols = self.columns.max(1).min(self.panels.len().max(1));
        let rows = self.panels.len().div_ceil(self.columns.max(1)).max(1);
        (
            self.panel_size.0 * cols as u32,
            self.panel_size.1 * rows as u32,
        )
    }

    fn check(&self) -> Result<()> {
        if self.panels.is_empty() {
            return Err(Error::Value("plot: the figure has no panels".into()));
        }
        let (w, h) = self.size();
        if w == 0 || h == 0 || (w as u64) * (h as u64) > 100_000_000 {
            return Err(Error::Value(format!(
                "plot: figure size {w}×{h} pixels is empty or too large"
            )));
        }
        Ok(())
    }

    /// Render to an SVG document (a string, ready to write or to inline in HTML).
    pub fn to_svg(&self) -> Result<String> {
        self.check()?;
        ensure_font()?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size()).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(plot_err)?;
        }
        Ok(out)
    }

    /// Render to PNG bytes.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        self.check()?;
        ensure_font()?;
        let (w, h) = self.size();
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(plot_err)?;
        }
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc
                .write_header()
                .map_err(|e| Error::Output(format!("plot: PNG encoding failed: {e}")))?;
            writer
                .write_image_data(&rgb)
                .map_err(|e| Error::Output(format!("plot: PNG encoding failed: {e}")))?;
        }
        Ok(bytes)
    }

    /// Write to `path`, SVG or PNG by extension, atomically (temporary file, fsync, rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = match Format::from_path(path)? {
            Format::Svg => self.to_svg()?.into_bytes(),
            Format::Png => self.to_png()?,
        };
        write_atomic(path, &bytes)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(plot_err)?;
        let rows = self.panels.len().div_ceil(self.columns.max(1)).max(1);
        let cols = self.columns.max(1).min(self.panels.len());
        let areas = root.split_evenly((rows, cols));
        for (panel, area) in self.panels.iter().zip(areas.iter()) {
            match panel {
                Panel::Line(c) => draw_line_chart(area, c)?,
                Panel::Histogram(h) => draw_histogram(area, h)?,
                Panel::Bars(b) => draw_bars(area, b)?,
                Panel::Field(f) => draw_field(area, f)?,
            }
        }
        Ok(())
    }
}

/// Write `bytes` to `path` atomically (temporary file in the same directory, fsync, rename):
/// readers never see a half-written file. The one implementation is the checkpoint writer's.
pub use crate::io::checkpoint::write_atomic;

fn plot_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Error {
    Error::Output(format!("plot: drawing failed: {e}"))
}

/// Finite (x, y) points of a series, dropping y ≤ 0 on a log axis.
fn usable(points: &[(f64, f64)], log_y: bool) -> impl Iterator<Item = (f64, f64)> + Clone + '_ {
    points
        .iter()
        .copied()
        .filter(move |&(x, y)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0))
}

/// A non-degenerate range covering `lo..hi`, widened by `margin` of its width.
fn pad(lo: f64, hi: f64, margin: f64, log: bool) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return if log { (0.1, 10.0) } else { (-1.0, 1.0) };
    }
    if log {
        if hi > lo {
            (lo / 1.5, hi * 1.5)
        } else {
            (lo / 10.0, lo * 10.0)
        }
    } else if hi > lo {
        let m = (hi - lo) * margin;
        (lo - m, hi + m)
    } else {
        let m = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - m, hi + m)
    }
}

fn draw_line_chart<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &LineChart) -> Result<()> {
    let (mut xlo, mut xhi, mut ylo, mut yhi) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for s in &c.series {
        for (x, y) in usable(&s.points, c.log_y) {
            xlo = xlo.min(x);
            xhi = xhi.max(x);
            ylo = ylo.min(y);
            yhi = yhi.max(y);
        }
    }
    let (xlo, xhi) = c.x_range.unwrap_or_else(|| pad(xlo, xhi, 0.0, false));
    let (ylo, yhi) = c.y_range.unwrap_or_else(|| pad(ylo, yhi, 0.05, c.log_y));
    if c.log_y {
        if ylo <= 0.0 {
            return Err(Error::Value(format!(
                "plot '{}': a log y axis needs a positive range, got [{ylo}, {yhi}]",
                c.title
            )));
        }
        line_chart_on(area, c, xlo..xhi, (ylo..yhi).log_scale())
    } else {
        line_chart_on(area, c, xlo..xhi, ylo..yhi)
    }
}

fn line_chart_on<DB, Y>(
    area: &DrawingArea<DB, Shift>,
    c: &LineChart,
    xr: std::ops::Range<f64>,
    yr: Y,
) -> Result<()>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = chart_frame(area, &c.title, &c.x_label, &c.y_label, xr, yr)?;
    for (i, s) in c.series.iter().enumerate() {
        let color = s.color.unwrap_or(PALETTE[i % PALETTE.len()]);
        let style = color.stroke_width(LINE_WIDTH);
        let pts = usable(&s.points, c.log_y);
        let anno = if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(pts, 6, 4, style))
                .map_err(plot_err)?
        } else {
            chart
                .draw_series(LineSeries::new(pts, style))
                .map_err(plot_err)?
        };
        // An unnamed series (e.g. one of many trajectories) stays out of the legend.
        if !s.name.is_empty() {
            anno.label(s.name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(LINE_WIDTH))
            });
        }
    }
    if !c.series.is_empty() {
        chart
            .configure_series_labels()
            .position(if c.legend_lower_left {
                SeriesLabelPosition::LowerLeft
            } else {
                SeriesLabelPosition::UpperLeft
            })
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, LEGEND_SIZE))
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

/// A short axis label: integers without a decimal point, "1e-6" rather than
/// "1.0000000000000002e-6" (log axes step by products that are not exact), at most 4
/// significant digits otherwise.
fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.3e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let s = format!("{:.*}", (3 - a.log10().floor() as i32).max(0) as usize, v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn draw_histogram<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, h: &Histogram) -> Result<()> {
    let ((lo, hi), counts) = h.counts();
    let width = (hi - lo) / counts.len() as f64;
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bars = counts
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .map(|(i, &n)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, n as f64));
    let color = PALETTE[0];
    if h.log_y {
        let base = 0.5;
        let yr = (base..max * 2.0).log_scale();
        let mut chart = chart_frame(area, &h.title, &h.x_label, &h.y_label, lo..hi, yr)?;
        chart
            .draw_series(
                bars.map(|(a, b, n)| Rectangle::new([(a, base), (b, n)], color.mix(0.8).filled())),
            )
            .map_err(plot_err)?;
    } else {
        let mut chart = chart_frame(
            area,
            &h.title,
            &h.x_label,
            &h.y_label,
            lo..hi,
            0.0..max * 1.05,
        )?;
        chart
            .draw_series(
                bars.map(|(a, b, n)| Rectangle::new([(a, 0.0), (b, n)], color.mix(0.8).filled())),
            )
            .map_err(plot_err)?;
    }
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, b: &Bars) -> Result<()> {
    let n = b.categories.len().max(1);
    let max = b
        .groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let names = b.categories.clone();
    let ticks = move |v: &f64| {
        let k = v.round();
        if (v - k).abs() < 1e-6 && k >= 0.0 {
            names.get(k as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut chart = chart_frame_with(
        area,
        &b.title,
        &b.x_label,
        &b.y_label,
        -0.5..n as f64 - 0.5,
        0.0..top,
        &ticks,
    )?;
    let g = b.groups.len().max(1) as f64;
    let width = 0.7 / g;
    for (j, (name, values)) in b.groups.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let x0 = -0.35 + j as f64 * width;
        chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(k, &v)| {
                        let x = k as f64 + x0;
                        Rectangle::new([(x, 0.0), (x + width * 0.92, v)], color.filled())
                    }),
            )
            .map_err(plot_err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    if !b.groups.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, LEGEND_SIZE))
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

type Chart2d<'a, DB, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, <Y as AsRangedCoord>::CoordDescType>,
>;

/// A titled, labelled Cartesian frame with the project's mesh style and short tick labels:
/// the common frame of line charts and histograms.
fn chart_frame<'a, DB, Y>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    xr: std::ops::Range<f64>,
    yr: Y,
) -> Result<Chart2d<'a, DB, Y>>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (x0, x1) = (xr.start, xr.end);
    chart_frame_with(area, title, x_label, y_label, xr, yr, &|v| {
        tick_label(snap_zero(*v, x0, x1))
    })
}

/// A tick that is zero up to the rounding of the tick arithmetic (−1.2 + 6 · 0.2 =
/// −2.2e−16) on an axis whose range contains zero, as 0. Log axes never contain zero, so their
/// small ticks are untouched.
fn snap_zero(v: f64, lo: f64, hi: f64) -> f64 {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if lo <= 0.0 && hi >= 0.0 && v.abs() <= 1e-9 * (hi - lo) {
        0.0
    } else {
        v
    }
}

/// [`chart_frame`] with its own x tick labels.
fn chart_frame_with<'a, DB, Y>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    xr: std::ops::Range<f64>,
    yr: Y,
    x_ticks: &dyn Fn(&f64) -> String,
) -> Result<Chart2d<'a, DB, Y>>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, TITLE_SIZE).into_font().color(&INK))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xr, yr)
        .map_err(plot_err)?;
    let y = chart.y_range();
    let y_ticks = |v: &f64| tick_label(snap_zero(*v, y.start, y.end));
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FAMILY, TICK_SIZE).into_font().color(&INK))
        .axis_desc_style((FAMILY, AXIS_LABEL_SIZE).into_font().color(&INK))
        .light_line_style(GRID)
        .x_label_formatter(x_ticks)
        .y_label_formatter(&y_ticks)
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_chart() -> LineChart {
        let xs: Vec<f64> = (0..=100).map(|i| -3.0 + 0.06 * i as f64).collect();
        LineChart::new("two series")
            .labels("x", "y")
            .series("relu_series", xs.iter().map(|&x| (x, x.max(0.0))).collect())
            .with_series(Series {
                name: "sigmoid_series".into(),
                points: xs.iter().map(|&x| (x, 1.0 / (1.0 + (-x).exp()))).collect(),
                color: None,
                dashed: true,
            })
    }

    #[test]
    fn svg_names_every_series_and_label() {
        let svg = Figure::single(sample_chart()).to_svg().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for needle in ["relu_series", "sigmoid_series", "two series"] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        // One polyline per solid series at least; the dashed one is drawn as segments.
        assert!(svg.matches("<polyline").count() >= 1);
    }

    #[test]
    fn sequential_map_is_viridis_and_bars_render() {
        // viridisLite::viridis(9) in R: "#440154FF" ... "#21908CFF" ... "#FDE725FF".
        assert_eq!(hex(sequential(0.0)), "#440154");
        assert_eq!(hex(sequential(0.5)), "#21908c");
        assert_eq!(hex(sequential(1.0)), "#fde725");
        assert_eq!(hex(sequential(0.875)), "#aadc32");
        assert_eq!(sequential(-3.0), sequential(0.0));
        assert_eq!(hex(PALETTE[0]), "#1f77b4");
        let bars = Bars::new("bars")
            .labels("init", "fraction of runs")
            .categories(vec!["he_normal".into(), "rai".into()])
            .group("born dead", vec![0.9, 0.4])
            .group("collapsed", vec![0.95, f64::NAN]);
        let svg = Figure::single(bars).to_svg().unwrap();
        for needle in [
            "he_normal",
            "rai",
            "born dead",
            "collapsed",
            "fraction of runs",
        ] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        // Three finite bars in the two group colours (the NaN one is not drawn), plus the
        // two legend swatches.
        let fill = |c: RGBColor| format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
        assert_eq!(svg.matches(&fill(PALETTE[0])).count(), 2 + 1);
        assert_eq!(svg.matches(&fill(PALETTE[1])).count(), 1 + 1);
        let row = Figure::row(vec![LineChart::new("a").into(), LineChart::new("b").into()]);
        assert_eq!(row.size(), (ROW_WIDTH, PANEL.1));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(1.0000000000000002e-6), "1e-6");
        assert_eq!(tick_label(1e-15), "1e-15");
        assert_eq!(tick_label(2.0), "2");
        assert_eq!(tick_label(0.001), "0.001");
        assert_eq!(tick_label(0.1 + 0.2), "0.3");
        assert_eq!(tick_label(12.5), "12.5");
        assert_eq!(tick_label(-2.5e6), "-2.5e6");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(snap_zero(-1.2 + 6.0 * 0.2, -1.2, 0.3)), "0");
        assert_eq!(
            snap_zero(1e-15, 1e-16, 1.0),
            1e-15,
            "an axis without 0 keeps small ticks"
        );
        assert_eq!(snap_zero(0.2, -1.2, 0.3), 0.2);
    }

    #[test]
    fn log_axis_and_histogram_render() {
        let c = LineChart::new("loss")
            .series(
                "decay",
                (1..50).map(|i| (i as f64, (-(i as f64)).exp())).collect(),
            )
            .log_y(true);
        let h = Histogram::new("hist", (0..1000).map(|i| (i % 37) as f64).collect(), 10);
        let svg = Figure::grid(vec![c.into(), h.clone().into()], 2)
            .to_svg()
            .unwrap();
        assert!(svg.contains("decay") && svg.contains("hist"));
        let ((lo, hi), counts) = h.counts();
        assert_eq!((lo, hi), (0.0, 36.0));
        assert_eq!(counts.iter().sum::<u64>(), 1000);
    }

    #[test]
    fn histogram_counts_edges() {
        let mut h = Histogram::new("h", vec![0.0, 0.5, 1.0, 1.0, f64::NAN, 2.0], 2);
        h.range = Some((0.0, 1.0));
        let (_, c) = h.counts();
        assert_eq!(c, vec![1, 3]); // 0.0 | 0.5, 1.0, 1.0 (last bin closed); NaN and 2.0 out
    }

    #[test]
    fn png_decodes_to_size_and_is_not_blank() {
        let fig = Figure::single(sample_chart()).panel_size(320, 200);
        let bytes = fig.to_png().unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (320, 200));
        let px = &buf[..info.buffer_size()];
        let white = px.chunks(3).filter(|p| p == &[255, 255, 255]).count();
        let total = px.len() / 3;
        // Mostly background, but lines, axes and text cover a real share of the pixels.
        assert!(white < total * 97 / 100, "{white} of {total} white");
        assert!(white > total / 2);
        // Some pixel carries the first palette colour (the first series).
        let c = PALETTE[0];
        assert!(px.chunks(3).any(|p| p == [c.0, c.1, c.2]));
    }

    #[test]
    fn save_picks_format_by_extension_and_rejects_others() {
        let dir = std::env::temp_dir().join(format!("relulab-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fig = Figure::single(sample_chart()).panel_size(200, 150);
        fig.save(dir.join("a.svg")).unwrap();
        fig.save(dir.join("a.PNG")).unwrap();
        let svg = std::fs::read_to_string(dir.join("a.svg")).unwrap();
        assert!(svg.contains("relu_series"));
        let png = std::fs::read(dir.join("a.PNG")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let err = fig.save(dir.join("a.jpg")).unwrap_err().to_string();
        assert!(err.contains("a.jpg") && err.contains(".svg"), "{err}");
        let err = fig
            .save(dir.join("no/such/dir/a.svg"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.svg"), "{err}");
        // No temporary files left behind.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_and_degenerate_inputs_do_not_panic() {
        assert!(Figure::grid(vec![], 2).to_svg().is_err());
        let c = LineChart::new("flat").series("one", vec![(0.0, 1.0)]);
        Figure::single(c).to_svg().unwrap();
        let c = LineChart::new("nan").series("bad", vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)]);
        Figure::single(c).to_svg().unwrap();
        let c = LineChart::new("neg")
            .series("s", vec![(0.0, -1.0)])
            .log_y(true)
            .y_range(-1.0, 1.0);
        assert!(Figure::single(c).to_svg().is_err());
        Figure::single(Histogram::new("e", vec![], 5))
            .to_png()
            .unwrap();
    }
}

/// A scalar field on a regular grid over a rectangle (issue 13: an objective over a 2-input
/// box): cells where `mask` holds are coloured by [`sequential`] (low dark, high bright), the
/// others light grey; `segments` (a constraint's boundary) are drawn in [`INK`], `points` as
/// labelled crosses.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FieldMap {
    /// Panel title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x range.
    pub x_range: (f64, f64),
    /// y range.
    pub y_range: (f64, f64),
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// Values, `ny` rows of `nx`, row 0 at the bottom.
    pub values: Vec<f64>,
    /// Which cells are coloured (same layout).
    pub mask: Vec<bool>,
    /// Line segments drawn on top.
    pub segments: Vec<((f64, f64), (f64, f64))>,
    /// Labelled points drawn on top.
    pub points: Vec<(String, f64, f64)>,
}

impl From<FieldMap> for Panel {
    fn from(f: FieldMap) -> Self {
        Panel::Field(f)
    }
}

fn draw_field<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, f: &FieldMap) -> Result<()> {
    ensure_font()?;
    let (x0, x1) = f.x_range;
    let (y0, y1) = f.y_range;
    let mut chart = chart_frame(area, &f.title, &f.x_label, &f.y_label, x0..x1, y0..y1)?;
    let shown: Vec<f64> = f
        .values
        .iter()
        .zip(&f.mask)
        .filter(|(v, m)| **m && v.is_finite())
        .map(|(v, _)| *v)
        .collect();
    let lo = shown.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = shown.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (dx, dy) = (
        (x1 - x0) / f.nx.max(1) as f64,
        (y1 - y0) / f.ny.max(1) as f64,
    );
    let cells = (0..f.ny).flat_map(|r| (0..f.nx).map(move |c| (r, c)));
    chart
        .draw_series(cells.map(|(r, c)| {
            let k = r * f.nx + c;
            let colour = match (f.mask.get(k), f.values.get(k)) {
                (Some(true), Some(v)) if v.is_finite() && hi > lo => {
                    sequential((v - lo) / (hi - lo))
                }
                (Some(true), Some(_)) => sequential(0.5),
                _ => GRID,
            };
            let (xa, ya) = (x0 + c as f64 * dx, y0 + r as f64 * dy);
            Rectangle::new([(xa, ya), (xa + dx, ya + dy)], colour.filled())
        }))
        .map_err(plot_err)?;
    chart
        .draw_series(
            f.segments
                .iter()
                .map(|&(a, b)| PathElement::new(vec![a, b], INK.stroke_width(LINE_WIDTH))),
        )
        .map_err(plot_err)?;
    for (label, x, y) in &f.points {
        chart
            .draw_series(std::iter::once(Cross::new(
                (*x, *y),
                7,
                FAIL_COLOUR.stroke_width(3),
            )))
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (*x, *y),
                (FAMILY, LEGEND_SIZE).into_font().color(&INK),
            )))
            .map_err(plot_err)?;
    }
    Ok(())
}
