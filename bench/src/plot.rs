//! Recall-vs-QPS chart with plotters: one curve per index configuration,
//! log-scale QPS axis, labelled axes and a legend. Written as SVG and PNG
//! (text is rendered with the embedded DejaVu Sans font, so no system fonts
//! or libraries are needed).

use crate::report::Report;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Distinct, print-friendly line colours (Tableau 10).
const COLOURS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// One curve: label and `(recall, qps, point label)` points.
pub type Series = (String, Vec<(f64, f64, String)>);

/// Curves of a report (settings that failed or measured nothing are skipped).
pub fn series(r: &Report) -> Vec<Series> {
    r.configs
        .iter()
        .map(|c| {
            let pts = c
                .results
                .iter()
                .filter(|x| x.error.is_none() && x.qps.is_finite() && x.qps > 0.0)
                .map(|x| (x.recall, x.qps, x.setting.clone()))
                .collect::<Vec<_>>();
            (c.label.clone(), pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    k: usize,
    data: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plot: {x:?}");
    root.fill(&WHITE).map_err(e)?;
    let all: Vec<(f64, f64)> = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(r, q, _)| (r, q)))
        .collect();
    let rmin = all.iter().map(|p| p.0).fold(1.0f64, f64::min);
    let xmin = ((rmin - 0.05).max(0.0) * 10.0).floor() / 10.0;
    let qmin = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let qmax = all.iter().map(|p| p.1).fold(0.0f64, f64::max);
    // Whole decades so the log axis always has labelled ticks.
    let (ymin, ymax) = if all.is_empty() {
        (1.0, 10.0)
    } else {
        let lo = 10f64.powf(qmin.log10().floor());
        let mut hi = 10f64.powf(qmax.log10().ceil());
        if hi <= lo {
            hi = lo * 10.0;
        }
        (lo, hi)
    };
    let xmax = 1.0 + 0.03 * (1.0 - xmin);

    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .margin_right(110)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(xmin..xmax, (ymin..ymax).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .max_light_lines(4)
        .x_labels(11)
        .x_desc(format!("recall@{k}"))
        .y_desc("queries per second (log scale)")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 13))
        .y_label_formatter(&|v| {
            if *v >= 1000.0 {
                format!("{:.0}", v)
            } else {
                format!("{:.3}", v)
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            }
        })
        .draw()
        .map_err(e)?;

    for (i, (label, pts)) in data.iter().enumerate() {
        let (r, g, b) = COLOURS[i % COLOURS.len()];
        let color = RGBColor(r, g, b).to_rgba();
        let mut line: Vec<(f64, f64)> = pts.iter().map(|&(r, q, _)| (r, q)).collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart
            .draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(e)?;
        chart
            .draw_series(pts.iter().filter(|(_, _, l)| l != "-").map(|(r, q, l)| {
                EmptyElement::at((*r, *q))
                    + Text::new(
                        l.clone(),
                        (6, -14),
                        ("sans-serif", 11).into_font().color(&BLACK.mix(0.7)),
                    )
            }))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// Write the chart to `svg` and, if given, `png`.
pub fn plot(title: &str, k: usize, data: &[Series], svg: &Path, png: Option<&Path>) -> Result<()> {
    register_font();
    const SIZE: (u32, u32) = (1100, 750);
    draw(
        SVGBackend::new(svg, SIZE).into_drawing_area(),
        title,
        k,
        data,
    )?;
    if let Some(png) = png {
        draw(
            BitMapBackend::new(png, SIZE).into_drawing_area(),
            title,
            k,
            data,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<Series> = vec![
            (
                "ivfflat(lists=100)".into(),
                vec![
                    (0.5, 4000.0, "probes=1".into()),
                    (0.8, 2000.0, "probes=4".into()),
                    (0.97, 600.0, "probes=16".into()),
                ],
            ),
            ("flat".into(), vec![(1.0, 50.0, "-".into())]),
            (
                "seqscan".into(),
                vec![
                    (1.0, 31.0, "workers=0".into()),
                    (1.0, 45.0, "workers=2".into()),
                ],
            ),
        ];
        // VB_PLOT_DIR=/some/dir keeps the files for a visual check.
        let keep = std::env::var_os("VB_PLOT_DIR").map(std::path::PathBuf::from);
        let out = keep.as_deref().unwrap_or(dir.path());
        let svg = out.join("p.svg");
        let png = out.join("p.png");
        plot("test", 10, &data, &svg, Some(&png)).unwrap();
        let s = std::fs::read_to_string(&svg).unwrap();
        assert!(s.contains("<svg") && s.contains("recall@10") && s.contains("ivfflat(lists=100)"));
        let p = std::fs::read(&png).unwrap();
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
    }
}
