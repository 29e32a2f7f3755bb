//! A few chart primitives as inline SVG, written by hand: no charting crate
//! produces small, deterministic, dependency-free SVG that can be snapshot
//! tested and opens offline; these are a hundred lines.

use std::fmt::Write;

use super::escape_html;

/// Chart width and height in SVG units (the page scales them).
pub(crate) const WIDTH: f64 = 760.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// Colours by meaning, shared by every chart and the legend.
pub(crate) mod color {
    pub(crate) const GOOD: &str = "#2e7d32";
    pub(crate) const BAD: &str = "#c62828";
    pub(crate) const WARN: &str = "#ef6c00";
    pub(crate) const NEUTRAL: &str = "#757575";
    pub(crate) const ACCENT: &str = "#1565c0";
    pub(crate) const GRID: &str = "#e0e0e0";
    pub(crate) const INK: &str = "#212121";
}

/// A linear scale from data to pixels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Scale {
    pub(crate) fn new(lo: f64, hi: f64, from: f64, to: f64) -> Scale {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        Scale { lo, hi, from, to }
    }
    pub(crate) fn at(self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }
}

/// A "nice" step for about `n` ticks over `span` (1, 2, 5 × 10^k).
pub(crate) fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let unit = raw / mag;
    let nice = if unit <= 1.0 {
        1.0
    } else if unit <= 2.0 {
        2.0
    } else if unit <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() < 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// An SVG canvas with a plot area and axes.
pub(crate) struct Canvas {
    pub(crate) height: f64,
    pub(crate) x: Scale,
    pub(crate) y: Scale,
    body: String,
    /// Right end (px) of the last marker label in each label row.
    marker_rows: Vec<f64>,
}

impl Canvas {
    /// A canvas `height` tall, x from `x_lo..x_hi` and y from `y_lo..y_hi`
    /// (y grows upwards).
    pub(crate) fn new(height: f64, (x_lo, x_hi): (f64, f64), (y_lo, y_hi): (f64, f64)) -> Canvas {
        Canvas {
            height,
            x: Scale::new(x_lo, x_hi, LEFT, WIDTH - RIGHT),
            y: Scale::new(y_lo, y_hi, height - BOTTOM, TOP),
            body: String::new(),
            marker_rows: Vec::new(),
        }
    }

    pub(crate) fn plot_bottom(&self) -> f64 {
        self.height - BOTTOM
    }

    /// Vertical grid lines and x labels every nice step, with `unit` after the last.
    pub(crate) fn x_axis(&mut self, lo: f64, hi: f64, unit: &str) {
        let step = nice_step(hi - lo, 8.0);
        let mut v = (lo / step).ceil() * step;
        let bottom = self.plot_bottom();
        while v <= hi + 1e-9 {
            let x = self.x.at(v);
            let _ = write!(
                self.body,
                r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom:.1}" stroke="{}" /><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                color::GRID,
                bottom + 16.0,
                fmt_num(v)
            );
            v += step;
        }
        let _ = write!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="unit">{}</text>"#,
            WIDTH - RIGHT,
            bottom + 30.0,
            escape_html(unit)
        );
    }

    /// Horizontal grid lines and y labels.
    pub(crate) fn y_axis(&mut self, lo: f64, hi: f64, unit: &str) {
        let step = nice_step(hi - lo, 5.0);
        let mut v = (lo / step).ceil() * step;
        while v <= hi + 1e-9 {
            let y = self.y.at(v);
            let _ = write!(
                self.body,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" /><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                WIDTH - RIGHT,
                color::GRID,
                LEFT - 6.0,
                y + 4.0,
                fmt_num(v)
            );
            v += step;
        }
        let _ = write!(
            self.body,
            r#"<text x="4" y="{:.1}" class="unit">{}</text>"#,
            TOP - 4.0,
            escape_html(unit)
        );
    }

    /// A rectangle in data coordinates, with a tooltip.
    pub(crate) fn rect(
        &mut self,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
        fill: &str,
        title: &str,
    ) {
        let (a, b) = (self.x.at(x0), self.x.at(x1));
        let (top, bottom) = (self.y.at(y1), self.y.at(y0));
        let _ = write!(
            self.body,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{}</title></rect>"#,
            a.min(b),
            top.min(bottom),
            (b - a).abs().max(1.0),
            (bottom - top).abs().max(1.0),
            escape_html(title)
        );
    }

    /// A bar in pixel rows: x range in data, y in pixels (for timelines).
    pub(crate) fn row_bar(
        &mut self,
        (x0, x1): (f64, f64),
        y: f64,
        h: f64,
        fill: &str,
        title: &str,
    ) {
        let (a, b) = (self.x.at(x0), self.x.at(x1));
        let _ = write!(
            self.body,
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" rx="2" fill="{fill}"><title>{}</title></rect>"#,
            a,
            (b - a).max(1.0),
            escape_html(title)
        );
    }

    /// A short vertical tick at data x, pixel y.
    pub(crate) fn tick(&mut self, x: f64, y: f64, h: f64, stroke: &str) {
        let px = self.x.at(x);
        let _ = write!(
            self.body,
            r#"<line x1="{px:.1}" y1="{y:.1}" x2="{px:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="1.5" />"#,
            y + h
        );
    }

    /// A dashed vertical marker with a label at the top. Labels that would
    /// overlap an earlier one drop to the next of a few rows; when no row
    /// has room the line stays and its tooltip carries the label.
    pub(crate) fn marker(&mut self, x: f64, label: &str) {
        const ROWS: usize = 4;
        const MAX_CHARS: usize = 30;
        let px = self.x.at(x);
        let short: String = if label.chars().count() > MAX_CHARS {
            let cut: String = label.chars().take(MAX_CHARS - 1).collect();
            format!("{}…", cut.trim_end())
        } else {
            label.to_owned()
        };
        // About 5.6 px per character at the markers' 10 px font.
        let width = 5.6 * short.chars().count() as f64 + 6.0;
        // Labels that would run past the right edge are drawn to the left.
        let (anchor, tx, left, right) = if px + width > WIDTH - RIGHT {
            ("end", px - 3.0, px - width, px)
        } else {
            ("start", px + 3.0, px, px + width)
        };
        let row = (0..ROWS).find(|r| self.marker_rows.get(*r).is_none_or(|end| left > *end));
        let _ = write!(
            self.body,
            r#"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="{}" stroke-dasharray="4 3"><title>{}</title></line>"#,
            self.plot_bottom(),
            color::NEUTRAL,
            escape_html(label)
        );
        let Some(row) = row.filter(|_| !short.is_empty()) else {
            return;
        };
        let _ = write!(
            self.body,
            r#"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" class="marker">{}</text>"#,
            TOP + 10.0 + 12.0 * row as f64,
            escape_html(&short)
        );
        if self.marker_rows.len() <= row {
            self.marker_rows.resize(row + 1, f64::MIN);
        }
        self.marker_rows[row] = right;
    }

    /// A polyline through data points.
    pub(crate) fn line(&mut self, points: &[(f64, f64)], stroke: &str) {
        if points.is_empty() {
            return;
        }
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", self.x.at(*x), self.y.at(*y)))
            .collect();
        let _ = write!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="2" />"#,
            path.join(" ")
        );
    }

    /// A short dark horizontal line in pixels (a target mark).
    pub(crate) fn hline(&mut self, x0: f64, x1: f64, y: f64) {
        let _ = write!(
            self.body,
            r#"<line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="{}" stroke-width="2" />"#,
            color::INK
        );
    }

    /// A dot at data coordinates, with a tooltip.
    pub(crate) fn dot(&mut self, (x, y): (f64, f64), fill: &str, title: &str) {
        let _ = write!(
            self.body,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{fill}" fill-opacity="0.8"><title>{}</title></circle>"#,
            self.x.at(x),
            self.y.at(y),
            escape_html(title)
        );
    }

    /// A row of coloured swatches with their meaning, top right of the plot.
    pub(crate) fn legend(&mut self, entries: &[(&str, &str)]) {
        // About 6.6 px per character at the charts' 11 px font.
        let width: f64 = entries
            .iter()
            .map(|(_, label)| 22.0 + 6.6 * label.chars().count() as f64)
            .sum();
        let mut x = (WIDTH - RIGHT - width).max(LEFT);
        for (fill, label) in entries {
            let _ = write!(
                self.body,
                r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{fill}" /><text x="{:.1}" y="{:.1}">{}</text>"#,
                TOP - 12.0,
                x + 13.0,
                TOP - 3.0,
                escape_html(label)
            );
            x += 22.0 + 6.6 * label.chars().count() as f64;
        }
    }

    /// Text at pixel coordinates.
    pub(crate) fn label(&mut self, x: f64, y: f64, text: &str) {
        let _ = write!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}">{}</text>"#,
            escape_html(text)
        );
    }

    /// The finished `<svg>` element with an accessible title.
    pub(crate) fn finish(self, title: &str) -> String {
        format!(
            r#"<svg viewBox="0 0 {WIDTH} {:.0}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>{}</svg>"#,
            self.height,
            self.body,
            t = escape_html(title)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(60.0, 8.0), 10.0);
        assert_eq!(nice_step(0.7, 7.0), 0.1);
        assert_eq!(nice_step(1000.0, 4.0), 500.0);
    }

    #[test]
    fn close_marker_labels_take_separate_rows() {
        let mut c = Canvas::new(200.0, (0.0, 100.0), (0.0, 1.0));
        c.marker(55.0, "heroku-router");
        c.marker(60.0, "AWS Application Load Balancer / nginx / Apache httpd");
        c.marker(90.0, "cloudflare");
        let svg = c.finish("t");
        let rows: Vec<&str> = svg
            .match_indices(r#"class="marker""#)
            .map(|(i, _)| &svg[..i])
            .map(|before| before.rsplit("y=\"").next().unwrap_or(""))
            .collect();
        assert_eq!(rows.len(), 3, "{svg}");
        assert_ne!(rows[0], rows[1], "overlapping labels share a row: {svg}");
        assert!(svg.contains(">AWS Application Load Balancer…<"), "{svg}");
        assert!(svg.contains("<title>AWS Application Load Balancer / nginx / Apache httpd</title>"));
    }

    #[test]
    fn scale_maps_ends() {
        let s = Scale::new(0.0, 10.0, 100.0, 200.0);
        assert!((s.at(0.0) - 100.0).abs() < 1e-9 && (s.at(10.0) - 200.0).abs() < 1e-9);
        let flat = Scale::new(5.0, 5.0, 0.0, 10.0);
        assert!(flat.at(5.0).is_finite());
    }
}
