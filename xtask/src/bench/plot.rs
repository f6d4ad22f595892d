//! The latency distributions as an SVG: one panel per case, the cumulative distribution of
//! each hypervisor's samples (fraction of samples at or below a tick count), drawn with
//! `plotters`' SVG backend.

use std::path::Path;

use plotters::prelude::*;

use super::stats;

/// One panel: a case's title and each hypervisor's histogram, if measured.
pub struct Panel<'a> {
    pub title: &'a str,
    pub bulkhead: Option<&'a [(u64, u64)]>,
    pub xen: Option<&'a [(u64, u64)]>,
}

/// A series to draw: its name, colour and histogram.
type Series<'a> = (&'static str, RGBColor, &'a [(u64, u64)]);

/// Bulkhead's colour and Xen's.
const SERIES: [(&str, RGBColor); 2] = [("Bulkhead", RGBColor(0, 94, 184)), ("Xen 4.17", RGBColor(214, 96, 0))];

/// Points of a step function through the cumulative fractions, starting at 0 left of the
/// first value.
pub fn steps(histogram: &[(u64, u64)]) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut previous = 0.0;
    for (value, fraction) in stats::cumulative(histogram) {
        points.push((value as f64, previous));
        points.push((value as f64, fraction));
        previous = fraction;
    }
    points
}

/// The x range that shows every series with a margin of one tick.
pub fn x_range(series: &[&[(u64, u64)]]) -> (f64, f64) {
    let values = series.iter().flat_map(|h| h.iter().map(|&(v, _)| v));
    let (low, high) = values.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if low > high {
        return (0.0, 1.0);
    }
    (low.saturating_sub(1) as f64, (high + 1) as f64)
}

/// Draws the panels into an SVG file, two panels to a row.
pub fn draw(file: &Path, panels: &[Panel<'_>]) -> Result<(), String> {
    let rows = panels.len().div_ceil(2).max(1);
    let root = SVGBackend::new(file, (1000, 300 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    for (area, panel) in root.split_evenly((rows, 2)).iter().zip(panels) {
        let series: Vec<Series<'_>> = [panel.bulkhead, panel.xen]
            .iter()
            .zip(SERIES)
            .filter_map(|(h, (name, colour))| h.map(|h| (name, colour, h)))
            .collect();
        let histograms: Vec<&[(u64, u64)]> = series.iter().map(|s| s.2).collect();
        let (low, high) = x_range(&histograms);
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(low..high, 0.0..1.05)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("ticks of the 62.5 MHz counter")
            .y_desc("fraction of samples")
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, colour, histogram) in series {
            chart
                .draw_series(LineSeries::new(steps(histogram), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_climb_from_zero_to_one() {
        assert_eq!(steps(&[(29, 1), (30, 3)]), [(29.0, 0.0), (29.0, 0.25), (30.0, 0.25), (30.0, 1.0)]);
        assert!(steps(&[]).is_empty());
    }

    #[test]
    fn the_x_range_covers_every_series() {
        assert_eq!(x_range(&[&[(29, 1), (30, 1)], &[(5, 2)]]), (4.0, 31.0));
        assert_eq!(x_range(&[&[(0, 1)]]), (0.0, 1.0));
        assert_eq!(x_range(&[]), (0.0, 1.0));
    }

    #[test]
    fn an_svg_is_written() {
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("latency.svg");
        let ours = [(5, 900), (6, 100)];
        let panels = [
            Panel { title: "null trap", bulkhead: Some(&ours), xen: Some(&[(29, 1000)]) },
            Panel { title: "timer", bulkhead: None, xen: Some(&[(271, 1000)]) },
        ];
        draw(&file, &panels).unwrap();
        let svg = std::fs::read_to_string(&file).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("null trap") && svg.contains("Xen 4.17"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
