//! `--plot FILE.svg`: the run as a picture. Top, HdrHistogram's percentile distribution
//! (latency against percentile, the percentile axis as 1/(1−p) on a log scale so 90 %,
//! 99 %, 99.9 % and 99.99 % are equally far apart, each marked); below, throughput and
//! p99 per second over the run (when there is a series). `compare_svg` draws several
//! runs' distributions on one chart (`bench plot`). Pure-Rust SVG (plotters).
//! Must not read files or measure: it returns the SVG text.

use hdrhistogram::Histogram;
use plotters::coord::combinators::WithKeyPoints;
use plotters::prelude::*;

use super::series::SeriesPoint;

/// The percentiles marked on the distribution: 90, 99, 99.9, 99.99.
const MARKS: [f64; 4] = [0.9, 0.99, 0.999, 0.9999];

/// Where the percentile axis ends: 99.999 %.
const TOP_X: f64 = 1e5;

/// The x of percentile `q` (0..1): 1/(1−q), the maximum drawn at the axis' end.
fn x_of(q: f64) -> f64 {
    (1.0 / (1.0 - q).max(1e-9)).min(TOP_X)
}

/// The labelled latencies of a log axis from `low` to `high` (ms): 1, 2, 3 and 5 of each
/// decade, fewer over a wide range (plotters' own log key points start at the first
/// power of ten and leave a range such as 0.15-5 ms with no label below 1).
fn latency_ticks(low: f64, high: f64) -> Vec<f64> {
    let decades = (high / low).log10();
    let mantissas: &[f64] = if decades > 6.0 {
        &[1.0]
    } else if decades > 3.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 5.0]
    };
    let first = low.log10().floor() as i32;
    let last = high.log10().ceil() as i32;
    (first..=last)
        .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|v| (low..=high).contains(v))
        .collect()
}

/// A latency axis label in ms: at most three significant digits (a log axis's key
/// points are products of floats, 0.30000000000000004 without this).
fn ms_label(y: &f64) -> String {
    let digits = if *y >= 100.0 {
        0
    } else {
        (2 - y.abs().max(1e-9).log10().floor() as i32).clamp(0, 6) as usize
    };
    let text = format!("{y:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// "99.9%" for the x of a percentile.
fn percentile_label(x: &f64) -> String {
    let q = (1.0 - 1.0 / x) * 100.0;
    let text = format!("{q:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// The SVG of a run's latency distribution and, with `series`, its throughput and p99
/// over time. `title` heads the picture.
pub fn svg(
    title: &str,
    latency: &Histogram<u64>,
    series: &[SeriesPoint],
) -> Result<String, String> {
    let mut out = String::new();
    {
        let height = if series.is_empty() { 420 } else { 800 };
        let root = SVGBackend::with_string(&mut out, (960, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 18))
            .map_err(|e| e.to_string())?;
        if series.is_empty() {
            distribution(&root, latency)?;
        } else {
            let (top, bottom) = root.split_vertically(380);
            distribution(&top, latency)?;
            over_time(&bottom, series)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// One run's line on a comparison chart.
pub struct Curve {
    /// The legend's text.
    pub label: String,
    /// The run's latency: its histogram, or only the percentiles its report gives.
    pub latency: CurveData,
}

/// What a report gives to draw its distribution from.
pub enum CurveData {
    /// The whole histogram: the exact curve.
    Histogram(Histogram<u64>),
    /// Percentiles only (quantile 0..1, µs), from a report without a histogram: a
    /// coarse line through them, drawn dashed.
    Percentiles(Vec<(f64, u64)>),
}

/// Colours of the compared runs, in order (then again).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// The SVG of several runs' latency distributions on one chart, each a colour, the
/// legend giving its label and p99; the 90/99/99.9/99.99 % lines marked.
pub fn compare_svg(title: &str, curves: &[Curve]) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (960, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 18))
            .map_err(|e| e.to_string())?;
        let lines: Vec<Line> = curves
            .iter()
            .map(|c| match &c.latency {
                CurveData::Histogram(h) => (
                    format!(
                        "{}, p99 {}",
                        c.label,
                        super::render::micros(h.value_at_quantile(0.99))
                    ),
                    curve_points(h),
                    true,
                ),
                CurveData::Percentiles(given) => (
                    format!("{}, percentiles only", c.label),
                    given
                        .iter()
                        .map(|&(q, us)| (x_of(q), us.max(1) as f64 / 1e3))
                        .collect(),
                    false,
                ),
            })
            .collect();
        let all: Vec<(f64, f64)> = lines.iter().flat_map(|l| l.1.iter().copied()).collect();
        let mut chart = distribution_chart(&root, &all)?;
        for (i, (label, points, exact)) in lines.into_iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let style = colour.stroke_width(if exact { 2 } else { 1 });
            let drawn = if exact {
                chart.draw_series(LineSeries::new(points, style))
            } else {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, style))
            };
            drawn
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// A line to draw: its legend, its points (x, ms), and whether it is exact (solid).
type Line = (String, Vec<(f64, f64)>, bool);

/// The distribution's line: latency (ms) at each percentile's x.
fn curve_points(latency: &Histogram<u64>) -> Vec<(f64, f64)> {
    latency
        .iter_quantiles(5)
        .map(|v| {
            (
                x_of(v.quantile_iterated_to()),
                v.value_iterated_to().max(1) as f64 / 1e3,
            )
        })
        .collect()
}

type DistributionChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogCoord<f64>, WithKeyPoints<LogCoord<f64>>>>;

/// The axes of a distribution chart holding `points`, with the percentile marks drawn.
fn distribution_chart<'a, 'b>(
    area: &'a Area<'b>,
    points: &[(f64, f64)],
) -> Result<DistributionChart<'a, 'b>, String> {
    let low_y = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let low_y = if low_y == f64::MAX {
        0.001
    } else {
        low_y.max(0.001)
    } / 1.5;
    let high_y = points.iter().map(|p| p.1).fold(0.01, f64::max) * 1.5;
    let mut chart = ChartBuilder::on(area)
        .caption("latency by percentile", ("sans-serif", 15))
        .margin(12)
        .margin_right(40)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (1.0..TOP_X).log_scale(),
            (low_y..high_y)
                .log_scale()
                .with_key_points(latency_ticks(low_y, high_y)),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&percentile_label)
        .y_label_formatter(&ms_label)
        .draw()
        .map_err(|e| e.to_string())?;
    for q in MARKS {
        let x = x_of(q);
        chart
            .draw_series(LineSeries::new([(x, low_y), (x, high_y)], RED.mix(0.4)))
            .map_err(|e| e.to_string())?;
    }
    Ok(chart)
}

fn distribution(area: &Area<'_>, latency: &Histogram<u64>) -> Result<(), String> {
    let points = curve_points(latency);
    let mut chart = distribution_chart(area, &points)?;
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    for q in MARKS {
        let x = x_of(q);
        let y = latency.value_at_quantile(q).max(1) as f64 / 1e3;
        chart
            .draw_series([Text::new(
                format!(
                    "{} {}",
                    percentile_label(&x),
                    super::render::micros((y * 1e3) as u64)
                ),
                (x * 1.05, y),
                ("sans-serif", 12),
            )])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Room above the highest point of each axis of the chart over time: the legend sits in
/// that band, upper left, clear of both lines (in the middle of the right edge, plotters'
/// default, it hid a p99 peak).
const HEADROOM: f64 = 1.4;

fn over_time(area: &Area<'_>, series: &[SeriesPoint]) -> Result<(), String> {
    let end = series.last().map_or(1.0, |p| p.elapsed_secs).max(1.0);
    let top_rate = series
        .iter()
        .map(|p| p.received_per_sec)
        .fold(1.0, f64::max)
        * HEADROOM;
    let top_p99 = series
        .iter()
        .filter_map(|p| p.p99_us)
        .map(|v| v as f64 / 1e3)
        .fold(0.01, f64::max)
        * HEADROOM;
    let mut chart = ChartBuilder::on(area)
        .caption("throughput and p99 per second", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..top_rate)
        .map_err(|e| e.to_string())?
        .set_secondary_coord(0.0..end, 0.0..top_p99);
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc("received msgs/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .configure_secondary_axes()
        .y_desc("p99 (ms)")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            series.iter().map(|p| (p.elapsed_secs, p.received_per_sec)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("received msgs/s")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart
        .draw_secondary_series(LineSeries::new(
            series
                .iter()
                .filter_map(|p| p.p99_us.map(|v| (p.elapsed_secs, v as f64 / 1e3))),
            RED.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("p99 (ms)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats;

    #[test]
    fn percentiles_are_labelled_as_people_read_them() {
        assert_eq!(percentile_label(&x_of(0.0)), "0%");
        assert_eq!(percentile_label(&x_of(0.99)), "99%");
        assert_eq!(percentile_label(&x_of(0.999)), "99.9%");
    }

    #[test]
    fn a_latency_axis_is_labelled_in_every_decade_it_spans() {
        let ticks: Vec<String> = latency_ticks(0.1, 5.6).iter().map(ms_label).collect();
        assert_eq!(ticks, ["0.1", "0.2", "0.3", "0.5", "1", "2", "3", "5"]);
        let wide: Vec<String> = latency_ticks(0.05, 500.0).iter().map(ms_label).collect();
        assert_eq!(wide.len(), 13, "{wide:?}");
        assert_eq!((wide[0].as_str(), wide[12].as_str()), ("0.05", "500"));
        assert_eq!(latency_ticks(0.01, 50_000.0).len(), 7);
    }

    #[test]
    fn latency_labels_keep_three_significant_digits() {
        assert_eq!(ms_label(&0.30000000000000004), "0.3");
        assert_eq!(ms_label(&0.05), "0.05");
        assert_eq!(ms_label(&1.0), "1");
        assert_eq!(ms_label(&2.5), "2.5");
        assert_eq!(ms_label(&12.26), "12.3");
        assert_eq!(ms_label(&400.0), "400");
        assert_eq!(ms_label(&5000.0), "5000");
    }

    #[test]
    fn the_svg_has_both_charts_and_the_marked_percentiles() {
        let mut h = stats::new_histogram();
        (1..=10_000u64).for_each(|v| stats::record(&mut h, v));
        let point = |t: f64| SeriesPoint {
            elapsed_secs: t,
            window_secs: 1.0,
            sent_per_sec: 100.0,
            received_per_sec: 100.0,
            p50_us: Some(500),
            p99_us: Some(900),
            lost: 0,
            connected: 2,
            sent: 100,
            received: 100,
            broker_rss_bytes: None,
            broker_open_fds: None,
            broker_cpu_percent: None,
        };
        let both = svg("run", &h, &[point(1.0), point(2.0)]).unwrap();
        assert!(both.starts_with("<svg"), "{}", &both[..80]);
        for text in [
            "latency by percentile",
            "throughput and p99",
            "99.99%",
            "received msgs/s",
        ] {
            assert!(both.contains(text), "no {text:?}");
        }
        let only = svg("run", &h, &[]).unwrap();
        assert!(!only.contains("throughput and p99"));
    }
}
