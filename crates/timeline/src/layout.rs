//! Where text goes: how wide a label is, and which row of a band it takes so that it
//! overlaps no other label.
//!
//! SVG viewers measure text themselves, so the width here is an estimate, made generous on
//! purpose: per character, the widths of DejaVu Sans (what `rsvg-convert` and Chromium on
//! Linux fall back to for `sans-serif`) rounded up, so that a box never claims less room
//! than the text takes.

/// A text's box in the picture, in SVG user units (pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    /// Left edge.
    pub x0: f64,
    /// Top edge.
    pub y0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y1: f64,
    /// The text, for messages.
    pub text: String,
}

impl TextBox {
    /// The box of `text` at font size `size` whose baseline starts at (`x`, `y`), anchored
    /// `start` or `end` (then `x` is the right edge).
    pub(crate) fn of(text: &str, size: f64, x: f64, y: f64, anchor: Anchor) -> TextBox {
        let w = text_width(text, size);
        let x0 = match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - w / 2.0,
            Anchor::End => x - w,
        };
        TextBox {
            x0,
            y0: y - size,
            x1: x0 + w,
            y1: y + size * 0.3,
            text: text.to_owned(),
        }
    }

    /// Whether the two boxes share any area (touching edges do not count).
    pub fn intersects(&self, other: &TextBox) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }
}

/// SVG's `text-anchor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    pub(crate) fn svg(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// The estimated width of `text` at font size `size`: DejaVu Sans advances (in em) rounded up.
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    let em: f64 = text
        .chars()
        .map(|c| match c {
            ' ' => 0.33,
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.32,
            'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' => 0.42,
            'm' | 'w' => 0.98,
            'M' | 'W' => 1.0,
            'a'..='z' => 0.64,
            'A'..='Z' => 0.78,
            '0'..='9' => 0.64,
            '%' => 0.96,
            _ => 0.9,
        })
        .sum();
    em * size
}

/// Rows of a band of labels: each row the intervals its labels take.
#[derive(Debug, Default)]
pub(crate) struct Rows(Vec<Vec<(f64, f64)>>);

/// Space kept between two labels in a row.
const GAP: f64 = 6.0;

impl Rows {
    /// Puts the interval [`x0`, `x1`] in the first row where it overlaps nothing, opening
    /// a new row if none has room; returns the row.
    pub(crate) fn place(&mut self, x0: f64, x1: f64) -> usize {
        let free = |row: &Vec<(f64, f64)>| row.iter().all(|&(a, b)| x1 + GAP <= a || b + GAP <= x0);
        let row = match self.0.iter().position(free) {
            Some(row) => row,
            None => {
                self.0.push(Vec::new());
                self.0.len() - 1
            }
        };
        self.0[row].push((x0, x1));
        row
    }

    /// How many rows are in use.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_would_overlap_go_to_another_row() {
        let mut rows = Rows::default();
        assert_eq!(rows.place(0.0, 50.0), 0);
        assert_eq!(rows.place(52.0, 90.0), 1, "closer than the gap");
        assert_eq!(rows.place(60.0, 100.0), 0);
        assert_eq!(rows.place(10.0, 20.0), 1);
        assert_eq!(rows.place(55.0, 70.0), 2);
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn boxes_follow_the_anchor() {
        let b = TextBox::of("abc", 10.0, 100.0, 50.0, Anchor::End);
        assert!((b.x1 - 100.0).abs() < 1e-9 && b.x0 < 100.0);
        let c = TextBox::of("abc", 10.0, b.x1, 50.0, Anchor::Start);
        assert!(!b.intersects(&c), "touching is not overlapping");
        let m = TextBox::of("abc", 10.0, 100.0, 50.0, Anchor::Middle);
        assert!(m.intersects(&b) && m.intersects(&c));
    }
}
