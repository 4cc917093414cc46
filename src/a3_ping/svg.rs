//! A very small SVG line-chart writer, enough for the ramp's two panels
//! (the seed drew them with matplotlib): axes with "nice" ticks, a light
//! grid, labels, a line through the points and a star on each point.

use std::fmt::Write as _;

/// One chart panel.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// The points, drawn in order.
    pub points: Vec<(f64, f64)>,
    /// Colour of the line (`#rrggbb`).
    pub line_color: String,
    /// Colour of the point markers.
    pub marker_color: String,
}

/// Size of one panel in pixels.
const PANEL_WIDTH: f64 = 520.0;
const PANEL_HEIGHT: f64 = 420.0;
/// Space around the plotting area: left (tick labels and y label), right,
/// top (title), bottom (tick labels and x label).
const MARGIN: (f64, f64, f64, f64) = (90.0, 20.0, 40.0, 60.0);
/// About how many ticks an axis gets.
const TICK_TARGET: f64 = 6.0;

/// Renders `panels` side by side as one SVG document.
pub fn render(panels: &[Panel]) -> String {
    let width = PANEL_WIDTH * panels.len().max(1) as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{PANEL_HEIGHT}" viewBox="0 0 {width} {PANEL_HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{width}" height="{PANEL_HEIGHT}" fill="white"/>"#
    );
    for (index, panel) in panels.iter().enumerate() {
        render_panel(&mut svg, panel, index as f64 * PANEL_WIDTH);
    }
    svg.push_str("</svg>\n");
    svg
}

fn render_panel(svg: &mut String, panel: &Panel, offset_x: f64) {
    let frame = Frame::new(panel, offset_x);
    let _ = writeln!(svg, "<g>");
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        frame.center_x(),
        escape(&panel.title)
    );
    frame.grid(svg);
    frame.axes(svg, panel, offset_x);
    frame.data(svg, panel);
    let _ = writeln!(svg, "</g>");
}

/// One panel's plot area and how data maps onto it.
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    x_ticks: Ticks,
    y_ticks: Ticks,
    /// The data range shown across, with a little room at either end.
    x_range: (f64, f64),
}

impl Frame {
    fn new(panel: &Panel, offset_x: f64) -> Frame {
        let (left, right, top, bottom) = MARGIN;
        // Time is in whole seconds: no ticks between them.
        let x_ticks = ticks(panel.points.iter().map(|p| p.0), 1.0);
        let y_ticks = ticks(panel.points.iter().map(|p| p.1).chain([0.0]), 0.0);
        // A little room left and right, so the end points are not on the frame.
        let x_pad = (x_ticks.last - x_ticks.first) * 0.04;
        Frame {
            left: offset_x + left,
            right: offset_x + PANEL_WIDTH - right,
            top,
            bottom: PANEL_HEIGHT - bottom,
            x_range: (x_ticks.first - x_pad, x_ticks.last + x_pad),
            x_ticks,
            y_ticks,
        }
    }

    fn to_x(&self, x: f64) -> f64 {
        let (x_min, x_max) = self.x_range;
        self.left + (x - x_min) / (x_max - x_min) * (self.right - self.left)
    }

    fn to_y(&self, y: f64) -> f64 {
        let (y_min, y_max) = (self.y_ticks.first, self.y_ticks.last);
        self.bottom - (y - y_min) / (y_max - y_min) * (self.bottom - self.top)
    }

    fn center_x(&self) -> f64 {
        (self.left + self.right) / 2.0
    }

    /// The grid lines and their tick labels.
    fn grid(&self, svg: &mut String) {
        let (plot_left, plot_right) = (self.left, self.right);
        let (plot_top, plot_bottom) = (self.top, self.bottom);
        for x in self.x_ticks.values() {
            let px = self.to_x(x);
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="{plot_top:.1}" x2="{px:.1}" y2="{plot_bottom:.1}" stroke="#dddddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                plot_bottom + 16.0,
                self.x_ticks.label(x)
            );
        }
        for y in self.y_ticks.values() {
            let py = self.to_y(y);
            let _ = writeln!(
                svg,
                r##"<line x1="{plot_left:.1}" y1="{py:.1}" x2="{plot_right:.1}" y2="{py:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                plot_left - 6.0,
                py + 4.0,
                self.y_ticks.label(y)
            );
        }
    }

    /// The frame around the plot and the axis labels.
    fn axes(&self, svg: &mut String, panel: &Panel, offset_x: f64) {
        let (plot_left, plot_top) = (self.left, self.top);
        let _ = writeln!(
            svg,
            r#"<rect x="{plot_left:.1}" y="{plot_top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
            self.right - self.left,
            self.bottom - self.top
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            self.center_x(),
            PANEL_HEIGHT - 18.0,
            escape(&panel.x_label)
        );
        let (label_x, label_y) = (offset_x + 18.0, (self.top + self.bottom) / 2.0);
        let _ = writeln!(
            svg,
            r#"<text x="{label_x:.1}" y="{label_y:.1}" text-anchor="middle" transform="rotate(-90 {label_x:.1} {label_y:.1})">{}</text>"#,
            escape(&panel.y_label)
        );
    }

    /// The data: a line through the points and a star on each, or "no data".
    fn data(&self, svg: &mut String, panel: &Panel) {
        if panel.points.is_empty() {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data</text>"#,
                self.center_x(),
                (self.top + self.bottom) / 2.0
            );
            return;
        }
        let path: Vec<String> = panel
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.to_x(x), self.to_y(y)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.join(" "),
            escape(&panel.line_color)
        );
        for &(x, y) in &panel.points {
            let _ = writeln!(
                svg,
                r#"<polygon points="{}" fill="{}"/>"#,
                star(self.to_x(x), self.to_y(y), 7.0),
                escape(&panel.marker_color)
            );
        }
    }
}

/// The corners of a five-pointed star of outer radius `r` around (cx, cy).
fn star(cx: f64, cy: f64, r: f64) -> String {
    (0..10)
        .map(|i| {
            let radius = if i % 2 == 0 { r } else { r * 0.45 };
            let angle = std::f64::consts::PI * (i as f64 / 5.0 - 0.5);
            format!(
                "{:.1},{:.1}",
                cx + radius * angle.cos(),
                cy + radius * angle.sin()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Evenly spaced "nice" tick values (steps of 1, 2 or 5 × 10ⁿ) covering
/// the data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ticks {
    /// The first tick (at or below the smallest value).
    pub first: f64,
    /// The last tick (at or above the largest value).
    pub last: f64,
    /// The distance between ticks.
    pub step: f64,
}

impl Ticks {
    /// Every tick value from first to last.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        let count = ((self.last - self.first) / self.step).round() as usize;
        (0..=count).map(move |i| self.first + i as f64 * self.step)
    }

    /// A label with as many decimals as the step needs.
    pub fn label(&self, value: f64) -> String {
        let decimals = (-self.step.log10().floor()).max(0.0) as usize;
        let text = format!("{value:.decimals$}");
        if text
            .trim_start_matches('-')
            .trim_matches(['0', '.'])
            .is_empty()
        {
            "0".into() // no "-0" or "0.000"
        } else {
            text
        }
    }
}

/// Ticks covering `values` (0..1 when there are none), at least
/// `min_step` apart.
pub fn ticks(values: impl Iterator<Item = f64>, min_step: f64) -> Ticks {
    let (mut low, mut high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if low > high {
        (low, high) = (0.0, 1.0);
    }
    if high - low < f64::EPSILON * high.abs().max(1.0) {
        (low, high) = (
            low - 0.5_f64.max(low.abs() * 0.1),
            high + 0.5_f64.max(high.abs() * 0.1),
        );
    }
    let rough = (high - low) / TICK_TARGET;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
        .max(min_step);
    Ticks {
        first: (low / step).floor() * step,
        last: (high / step).ceil() * step,
        step,
    }
}

/// Escapes text for SVG element content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice_and_cover_the_data() {
        let t = ticks([1.0, 7.0].into_iter(), 1.0);
        assert_eq!((t.first, t.last, t.step), (1.0, 7.0, 1.0));
        let t = ticks([0.0, 0.0123].into_iter(), 0.0);
        assert_eq!(t.step, 0.005);
        assert!(t.last >= 0.0123 && t.first <= 0.0);
        assert_eq!(t.values().count(), 4);
        assert_eq!(t.label(0.005), "0.005");
        let t = ticks([0.0, 163_840.0].into_iter(), 0.0);
        assert_eq!(t.step, 50_000.0);
        assert_eq!(t.label(150_000.0), "150000");
        let empty = ticks(std::iter::empty(), 0.0);
        assert_eq!((empty.first, empty.last), (0.0, 1.0));
        let flat = ticks([3.0, 3.0].into_iter(), 0.0);
        assert!(flat.first < 3.0 && flat.last > 3.0);
        let one_second = ticks([1.0].into_iter(), 1.0);
        assert_eq!(
            (one_second.first, one_second.last, one_second.step),
            (0.0, 2.0, 1.0)
        );
        assert_eq!(one_second.label(1.0), "1");
    }

    #[test]
    fn chart_has_both_panels_points_and_escaped_text() {
        let panel = |title: &str| Panel {
            title: title.into(),
            x_label: "Time (in sec)".into(),
            y_label: "y <units>".into(),
            points: vec![(1.0, 2.0), (2.0, 4.0), (3.0, 3.0)],
            line_color: "#f72533".into(),
            marker_color: "#cf0412".into(),
        };
        let svg = render(&[panel("A & B"), panel("C")]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("A &amp; B") && svg.contains("y &lt;units&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<polygon").count(), 6);
        assert_eq!(svg.matches("<g>").count(), svg.matches("</g>").count());
    }
}
