//! A scatter plot as a self-contained SVG document, written by hand (no
//! plotting dependency): what `examples/tradeoff.rs` draws bandwidth
//! against detection time with, one labelled point per setting.
//!
//! The axes span the data with a margin, ticks fall on round numbers (1, 2
//! or 5 times a power of ten), and every text is XML-escaped, so any label
//! gives a well-formed document. Points with a non-finite coordinate (a
//! figure that was not measured) are left out of the plot; callers list
//! them in their table instead.

use std::format;
use std::string::String;
use std::vec::Vec;

/// One point of a scatter plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Horizontal value.
    pub x: f64,
    /// Vertical value.
    pub y: f64,
    /// Text written next to the point.
    pub label: String,
}

/// Width and height of the drawing, in SVG user units.
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 520.0;
/// Room around the plot area: left (tick labels and the y axis title),
/// right (labels of the rightmost points), top (title), bottom (x axis).
const LEFT: f64 = 80.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// `s` with the five XML special characters escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newline are not
            // allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The range an axis shows for values from `lo` to `hi`: a margin of a
/// tenth of the span on each side (of a tenth of the value, or 1, when all
/// values are equal).
fn span(lo: f64, hi: f64) -> (f64, f64) {
    let width = hi - lo;
    let margin = if width > 0.0 {
        width / 10.0
    } else if lo != 0.0 {
        lo.abs() / 10.0
    } else {
        1.0
    };
    (lo - margin, hi + margin)
}

/// Round tick values within `lo..=hi`, three to six of them as a rule:
/// multiples of the smallest step of 1, 2 or 5 times a power of ten that
/// is at least a sixth of the span.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 6.0;
    if !(raw.is_finite() && raw > 0.0) {
        return Vec::new();
    }
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// A tick value as text: no decimals for steps of 1 and more, else as
/// many as the step needs.
fn tick_text(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

/// A scatter plot of `points` titled `title`, with axis titles `x_title`
/// and `y_title`, as a complete SVG document.
pub fn scatter_svg(title: &str, x_title: &str, y_title: &str, points: &[Point]) -> String {
    let shown: Vec<&Point> = points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let bounds = |f: fn(&Point) -> f64| {
        let lo = shown.iter().map(|p| f(p)).fold(f64::INFINITY, f64::min);
        let hi = shown.iter().map(|p| f(p)).fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() {
            span(lo, hi)
        } else {
            (0.0, 1.0)
        }
    };
    let (x0, x1) = bounds(|p| p.x);
    let (y0, y1) = bounds(|p| p.y);
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * w;
    let py = |y: f64| TOP + h - (y - y0) / (y1 - y0) * h;

    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        LEFT + w / 2.0,
        escape(title)
    ));
    // Grid lines and tick labels.
    s.push_str("<g stroke=\"#dddddd\" stroke-width=\"1\">\n");
    let xt = ticks(x0, x1);
    let yt = ticks(y0, y1);
    for &x in &xt {
        s.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\"/>\n",
            px(x),
            TOP + h
        ));
    }
    for &y in &yt {
        s.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\"/>\n",
            py(y),
            LEFT + w
        ));
    }
    s.push_str("</g>\n");
    let step = |t: &[f64]| match t {
        [a, b, ..] => b - a,
        _ => 1.0,
    };
    for &x in &xt {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            px(x),
            TOP + h + 18.0,
            tick_text(x, step(&xt))
        ));
    }
    for &y in &yt {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            LEFT - 8.0,
            py(y) + 4.0,
            tick_text(y, step(&yt))
        ));
    }
    // Axes and their titles.
    s.push_str(&format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#333333\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
        LEFT + w / 2.0,
        HEIGHT - 16.0,
        escape(x_title)
    ));
    s.push_str(&format!(
        "<text x=\"20\" y=\"{0:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {0:.1})\">{1}</text>\n",
        TOP + h / 2.0,
        escape(y_title)
    ));
    // The points first, then each label where it hides no other label.
    s.push_str("<g fill=\"#1f77b4\">\n");
    let centres: Vec<(f64, f64)> = shown.iter().map(|p| (px(p.x), py(p.y))).collect();
    for (p, &(cx, cy)) in shown.iter().zip(&centres) {
        s.push_str(&format!(
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"4.5\"><title>{}</title></circle>\n",
            escape(&p.label)
        ));
    }
    s.push_str("</g>\n<g fill=\"#222222\" font-size=\"11\">\n");
    // The markers are obstacles too.
    let mut placed: Vec<Box2> = centres
        .iter()
        .map(|&(cx, cy)| Box2 {
            left: cx - 5.0,
            top: cy - 5.0,
            right: cx + 5.0,
            bottom: cy + 5.0,
        })
        .collect();
    for (p, &(cx, cy)) in shown.iter().zip(&centres) {
        let (x, y, anchor, area) = place_label(&p.label, cx, cy, &placed);
        placed.push(area);
        s.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>\n",
            escape(&p.label)
        ));
    }
    s.push_str("</g>\n</svg>\n");
    s
}

/// The area a label takes, in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Box2 {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
}

impl Box2 {
    fn overlaps(&self, o: &Box2) -> bool {
        self.left < o.right && o.left < self.right && self.top < o.bottom && o.top < self.bottom
    }
}

/// Where the label of the point at (`cx`, `cy`) goes: above right of it,
/// else below right, above left or below left, the first place that
/// overlaps nothing already `placed` (markers and labels) and stays in the
/// drawing (the first place if none does). Returns the text's anchor point, its
/// `text-anchor` and the area it takes (11-unit text is taken to be 6.2
/// units a character wide).
fn place_label(label: &str, cx: f64, cy: f64, placed: &[Box2]) -> (f64, f64, &'static str, Box2) {
    let width = 6.2 * label.chars().count() as f64;
    let candidates = [
        (cx + 7.0, cy - 6.0, "start"),
        (cx + 7.0, cy + 15.0, "start"),
        (cx - 7.0, cy - 6.0, "end"),
        (cx - 7.0, cy + 15.0, "end"),
    ];
    let area = |(x, y, anchor): (f64, f64, &str)| {
        let left = if anchor == "end" { x - width } else { x };
        Box2 {
            left,
            top: y - 10.0,
            right: left + width,
            bottom: y + 2.0,
        }
    };
    let fits =
        |b: &Box2| b.left >= 0.0 && b.right <= WIDTH && !placed.iter().any(|o| o.overlaps(b));
    let chosen = candidates
        .iter()
        .copied()
        .find(|&c| fits(&area(c)))
        .unwrap_or(candidates[0]);
    (chosen.0, chosen.1, chosen.2, area(chosen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// Checks that `doc` is well-formed XML as this writer produces it:
    /// tags nest and close, attribute values are quoted, text holds no
    /// bare `<`, `>` or `&` other than the five entities. Returns the
    /// names of the elements in document order.
    fn well_formed(doc: &str) -> Result<Vec<String>, String> {
        let mut open: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = doc;
        while let Some(lt) = rest.find('<') {
            check_text(&rest[..lt])?;
            let after = &rest[lt + 1..];
            let gt = tag_end(after).ok_or("a tag is not closed")?;
            let tag = &after[..gt];
            rest = &after[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let top = open.pop().ok_or(format!("</{name}> closes nothing"))?;
                if top != name.trim() {
                    return Err(format!("</{name}> closes <{top}>"));
                }
                continue;
            }
            let (body, empty) = match tag.strip_suffix('/') {
                Some(b) => (b, true),
                None => (tag, false),
            };
            let name: String = body
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if name.is_empty() {
                return Err(format!("<{tag}> has no name"));
            }
            check_attributes(&body[name.len()..])?;
            if open.is_empty() && !seen.is_empty() {
                return Err("more than one root element".into());
            }
            seen.push(name.clone());
            if !empty {
                open.push(name);
            }
        }
        check_text(rest)?;
        if let Some(top) = open.pop() {
            return Err(format!("<{top}> is never closed"));
        }
        Ok(seen)
    }

    /// Where the tag starting after a `<` ends (its `>`), skipping quoted
    /// attribute values.
    fn tag_end(s: &str) -> Option<usize> {
        let mut quoted = false;
        s.char_indices().find_map(|(i, c)| match c {
            '"' => {
                quoted = !quoted;
                None
            }
            '>' if !quoted => Some(i),
            _ => None,
        })
    }

    fn check_text(t: &str) -> Result<(), String> {
        if t.contains('>') {
            return Err(format!("bare '>' in text {t:?}"));
        }
        let mut rest = t;
        while let Some(amp) = rest.find('&') {
            let after = &rest[amp..];
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| after.starts_with(e));
            if !ok {
                return Err(format!("bare '&' in {t:?}"));
            }
            rest = &after[1..];
        }
        Ok(())
    }

    /// ` name="value" name="value"...`, values well-formed text without a
    /// `<`.
    fn check_attributes(mut a: &str) -> Result<(), String> {
        loop {
            a = a.trim_start();
            if a.is_empty() {
                return Ok(());
            }
            let eq = a
                .find("=\"")
                .ok_or(format!("attribute without a value in {a:?}"))?;
            let name = &a[..eq];
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-:".contains(c))
            {
                return Err(format!("bad attribute name {name:?}"));
            }
            let value_and_rest = &a[eq + 2..];
            let close = value_and_rest
                .find('"')
                .ok_or(format!("unterminated value in {a:?}"))?;
            let value = &value_and_rest[..close];
            if value.contains('<') {
                return Err(format!("'<' in attribute value {value:?}"));
            }
            check_text(value)?;
            a = &value_and_rest[close + 1..];
        }
    }

    fn point(x: f64, y: f64, label: &str) -> Point {
        Point {
            x,
            y,
            label: label.to_string(),
        }
    }

    #[test]
    fn a_scatter_plot_is_well_formed_with_one_circle_per_point() {
        let points = [
            point(9025.6, 6.29, "1000 ms, fanout 3, pause 2000 ms"),
            point(7000.0, 5.1, "500 ms, fanout 2, pause 1000 ms"),
            point(12000.0, 7.9, "fanout 4 <&> \"quoted\" 'too'"),
            point(f64::NAN, 3.0, "not measured"),
        ];
        let svg = scatter_svg(
            "bytes & detection",
            "bytes per node per round",
            "detection median (s)",
            &points,
        );
        let elements = well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(elements.first().map(String::as_str), Some("svg"));
        let circles = elements.iter().filter(|e| *e == "circle").count();
        assert_eq!(circles, 3, "one circle per measured point");
        for p in &points[..3] {
            assert!(svg.contains(&escape(&p.label)), "{} is labelled", p.label);
        }
        assert!(!svg.contains("not measured"));
        // Every coordinate is inside the drawing.
        for (attr, limit) in [("cx=\"", WIDTH), ("cy=\"", HEIGHT)] {
            for part in svg.split(attr).skip(1) {
                let v: f64 = part[..part.find('"').expect("closed")]
                    .parse()
                    .expect("number");
                assert!((0.0..=limit).contains(&v), "{attr}{v}");
            }
        }
    }

    #[test]
    fn degenerate_inputs_still_give_a_document() {
        for points in [
            vec![],
            vec![point(5.0, 5.0, "one")],
            vec![point(0.0, 0.0, "zero"), point(0.0, 0.0, "same")],
        ] {
            let svg = scatter_svg("t", "x", "y", &points);
            let elements = well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
            let circles = elements.iter().filter(|e| *e == "circle").count();
            assert_eq!(circles, points.len());
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }

    #[test]
    fn the_checker_catches_broken_documents() {
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "<a x=1/>",
            "<a>1 & 2</a>",
            "<a/><b/>",
            "<a>x > y</a>",
        ] {
            assert!(well_formed(bad).is_err(), "{bad}");
        }
        assert!(well_formed("<a x=\"1\"><b/>t &amp; u</a>").is_ok());
    }

    #[test]
    fn labels_of_close_points_do_not_overlap() {
        let points = [
            point(6597.0, 5.11, "1000 ms, fanout 3, pause 1000 ms"),
            point(7680.0, 5.26, "1000 ms, fanout 4, pause 2000 ms"),
            point(4394.0, 7.47, "1000 ms, fanout 2, pause 2000 ms"),
        ];
        let svg = scatter_svg("t", "x", "y", &points);
        well_formed(&svg).unwrap_or_else(|e| panic!("{e}"));
        let mut placed = Vec::new();
        for p in &points {
            let (_, _, _, area) = place_label(&p.label, p.x / 20.0, 400.0 - p.y * 20.0, &placed);
            assert!(
                placed.iter().all(|o: &Box2| !o.overlaps(&area)),
                "{placed:?} {area:?}"
            );
            placed.push(area);
        }
        // Two labels at the same place: the second moves.
        let first = place_label("same", 100.0, 100.0, &[]).3;
        let second = place_label("same", 100.0, 100.0, &[first]).3;
        assert!(!first.overlaps(&second));
    }

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(ticks(0.0, 10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(5.3, 7.9);
        assert!(
            t.iter().all(|v| (5.3..=7.9).contains(v)) && t.len() >= 3,
            "{t:?}"
        );
        assert_eq!(tick_text(0.5, 0.5), "0.5");
        assert_eq!(tick_text(7000.0, 1000.0), "7000");
        assert!(ticks(1.0, 1.0).is_empty());
    }
}
