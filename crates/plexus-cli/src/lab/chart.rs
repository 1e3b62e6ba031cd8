//! The lab's chart: one horizontal bar per scenario, its time in round trips, with a tick
//! where the protocols say it should end. SVG, drawn with plotters.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One scenario on the chart.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) label: String,
    /// The measured time, written at the end of the bar.
    pub(crate) value: String,
    pub(crate) measured_rtts: f64,
    pub(crate) expected_rtts: f64,
}

/// What to draw.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    pub(crate) title: String,
    pub(crate) x_desc: String,
    pub(crate) bars: Vec<Bar>,
}

/// Writes the chart to `path` as SVG.
pub(crate) fn draw(path: &Path, chart: &Chart) -> Result<(), Box<dyn std::error::Error>> {
    let n = chart.bars.len();
    let height = 110 + 34 * n as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let widest = chart
        .bars
        .iter()
        .map(|b| b.measured_rtts.max(b.expected_rtts))
        .fold(1.0, f64::max);
    // The first scenario at the top: plotters counts rows from the bottom.
    let row = |i: usize| n - 1 - i;
    let labels: Vec<&str> = chart.bars.iter().map(|b| b.label.as_str()).collect();
    let mut plot = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(400)
        .build_cartesian_2d(0f64..(widest * 1.45).ceil(), (0..n).into_segmented())?;
    plot.configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < n => labels[row(*i)].to_string(),
            _ => String::new(),
        })
        .x_desc(chart.x_desc.as_str())
        .label_style(("sans-serif", 13))
        .draw()?;
    let measured = RGBColor(52, 101, 164);
    plot.draw_series(chart.bars.iter().enumerate().map(|(i, b)| {
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row(i))),
                (b.measured_rtts, SegmentValue::Exact(row(i) + 1)),
            ],
            measured.filled(),
        );
        bar.set_margin(5, 5, 0, 0);
        bar
    }))?
    .label("measured (median request; whole batch for concurrent rows)")
    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], measured.filled()));
    plot.draw_series(chart.bars.iter().enumerate().map(|(i, b)| {
        PathElement::new(
            vec![
                (b.expected_rtts, SegmentValue::Exact(row(i))),
                (b.expected_rtts, SegmentValue::Exact(row(i) + 1)),
            ],
            RED.stroke_width(3),
        )
    }))?
    .label("expected from the protocols")
    .legend(|(x, y)| PathElement::new(vec![(x + 6, y - 6), (x + 6, y + 6)], RED.stroke_width(3)));
    plot.draw_series(chart.bars.iter().enumerate().map(|(i, b)| {
        Text::new(
            b.value.clone(),
            (
                b.measured_rtts.max(b.expected_rtts) + widest * 0.01,
                SegmentValue::CenterOf(row(i)),
            ),
            TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    }))?;
    plot.configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}
