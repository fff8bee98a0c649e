//! The latency-by-percentile chart of every run (`--plot`), as SVG.

/// One run's curve: its label and its (percentile, ms) points.
pub type Curve = (String, Vec<(f64, f64)>);

/// An SVG chart of latency by percentile, one line per run (the percentile axis is stretched towards the tail).
pub fn plot(curves: &[Curve]) -> String {
    const COLORS: [&str; 8] = [
        "#0b6bcb", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#3d5a80", "#8d6e63", "#111111",
    ];
    let (width, height, left, right, top, bottom) = (760.0, 420.0, 60.0, 230.0, 20.0, 50.0);
    let max_ms = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, ms)| *ms))
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    // x: -log10(1 - p/100), so 50, 90, 99, 99.9 are evenly spaced.
    let tail = |p: f64| -(1.0 - p / 100.0).max(0.0005).log10();
    let x = |p: f64| left + (width - left - right) * tail(p) / tail(99.9);
    let y = |ms: f64| top + (height - top - bottom) * (1.0 - ms / max_ms);
    let mut svg =
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" "#);
    svg.push_str(r#"font-family="sans-serif" font-size="12">"#);
    svg.push_str(&format!(
        r#"<rect width="{width}" height="{height}" fill="white"/>"#
    ));
    let (axis, axis_labels) = (height - bottom, height - bottom + 16.0);
    for p in [0.0, 50.0, 90.0, 99.0, 99.9] {
        let px = x(p);
        svg.push_str(&format!(
            r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{axis:.1}" stroke="#ddd"/>"##
        ));
        svg.push_str(&format!(
            r#"<text x="{px:.1}" y="{axis_labels:.1}" text-anchor="middle">p{p}</text>"#
        ));
    }
    let (plot_right, ms_labels) = (width - right, left - 6.0);
    for i in 0..=4 {
        let ms = max_ms * f64::from(i) / 4.0;
        let py = y(ms);
        svg.push_str(&format!(
            r##"<line x1="{left}" y1="{py:.1}" x2="{plot_right:.1}" y2="{py:.1}" stroke="#eee"/>"##
        ));
        svg.push_str(&format!(
            r#"<text x="{ms_labels:.1}" y="{:.1}" text-anchor="end">{ms:.0} ms</text>"#,
            py + 4.0
        ));
    }
    for (i, (label, points)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = points
            .iter()
            .filter(|(_, ms)| ms.is_finite())
            .map(|(p, ms)| format!("{:.1},{:.1}", x(*p), y(*ms)))
            .collect();
        svg.push_str(&format!(
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        ));
        let ly = top + 18.0 * (i as f64 + 1.0);
        svg.push_str(&format!(
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="3" fill="{color}"/>"#,
            width - right + 14.0,
            ly - 4.0,
        ));
        svg.push_str(&format!(
            r#"<text x="{:.1}" y="{ly:.1}">{label}</text>"#,
            width - right + 32.0,
        ));
    }
    svg.push_str(&format!(
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (tail stretched)</text></svg>"#,
        left + (width - left - right) / 2.0,
        height - 10.0
    ));
    svg
}
