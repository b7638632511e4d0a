//! A tiny 5x7 bitmap font for the test pattern, drawn into a luma plane at an integer scale.
//!
//! Owns: the glyph table (digits, A–Z with a–z folded to upper case, common punctuation, the
//! arrows and typographic quotes that device names use) and the luma-only text blitter.
//! Unknown characters draw as a hollow box. Must not touch chroma or know the pattern's layout.

use super::frame::Rect;

/// Lit columns of one glyph row; bit 4 is the leftmost of the 5 columns.
pub type Glyph = [u8; 7];

/// Columns of a glyph's ink.
pub const GLYPH_WIDTH: u32 = 5;
/// Rows of a glyph's ink.
pub const GLYPH_HEIGHT: u32 = 7;
/// Horizontal advance per character at scale 1 (one blank column between glyphs).
pub const CELL_WIDTH: u32 = 6;
/// Line height at scale 1 (one blank row under the glyph).
pub const CELL_HEIGHT: u32 = 8;

/// What characters with no glyph draw as.
pub const UNKNOWN: Glyph = [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F];

/// The glyph for `c`; lower-case ASCII letters fold to upper case, anything else unknown draws
/// as [`UNKNOWN`].
pub fn glyph(c: char) -> Glyph {
    match c.to_ascii_uppercase() {
        ' ' => [0; 7],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        ';' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08],
        '-' | '\u{2013}' | '\u{2014}' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '!' => [0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04],
        '?' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
        '\'' | '\u{2018}' | '\u{2019}' => [0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '"' | '\u{201C}' | '\u{201D}' => [0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '[' => [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E],
        ']' => [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '&' => [0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D],
        '*' => [0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '@' => [0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E],
        '\u{2192}' => [0x00, 0x04, 0x02, 0x1F, 0x02, 0x04, 0x00],
        '\u{2190}' => [0x00, 0x04, 0x08, 0x1F, 0x08, 0x04, 0x00],
        _ => UNKNOWN,
    }
}

/// Width in pixels of `chars` characters at `scale` (whole cells, trailing gap included).
pub fn text_width(chars: usize, scale: u32) -> u32 {
    u32::try_from(chars)
        .unwrap_or(u32::MAX)
        .saturating_mul(CELL_WIDTH)
        .saturating_mul(scale)
}

/// Where and how [`draw_text`] writes: the top-left of the first cell, the integer scale (every
/// font pixel becomes a `scale`x`scale` block) and the luma value of the ink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pen {
    pub x: u32,
    pub y: u32,
    pub scale: u32,
    pub luma: u8,
}

/// Draws `text` with `pen` into the luma plane `plane` (rows of `stride` bytes). Only the ink
/// is written (the background is left alone), and nothing outside `clip` is touched.
pub fn draw_text<I>(plane: &mut [u8], stride: u32, clip: Rect, pen: Pen, text: I)
where
    I: IntoIterator<Item = char>,
{
    let mut cell_x = u64::from(pen.x);
    let step = u64::from(CELL_WIDTH) * u64::from(pen.scale);
    let clip_right = u64::from(clip.x) + u64::from(clip.width);
    for c in text {
        if cell_x >= clip_right {
            break;
        }
        draw_glyph(
            plane,
            stride,
            clip,
            (cell_x, u64::from(pen.y)),
            &pen,
            &glyph(c),
        );
        cell_x += step;
    }
}

fn draw_glyph(
    plane: &mut [u8],
    stride: u32,
    clip: Rect,
    origin: (u64, u64),
    pen: &Pen,
    rows: &Glyph,
) {
    let (x, y) = origin;
    let scale = u64::from(pen.scale);
    let stride = stride as usize;
    let (clip_x0, clip_y0) = (u64::from(clip.x), u64::from(clip.y));
    let clip_x1 = clip_x0 + u64::from(clip.width);
    let clip_y1 = clip_y0 + u64::from(clip.height);
    for (row_index, &bits) in rows.iter().enumerate() {
        if bits == 0 {
            continue;
        }
        let top = (y + row_index as u64 * scale).max(clip_y0);
        let bottom = (y + (row_index as u64 + 1) * scale).min(clip_y1);
        for column in 0..u64::from(GLYPH_WIDTH) {
            if bits & (0x10 >> column) == 0 {
                continue;
            }
            let left = (x + column * scale).max(clip_x0);
            let right = (x + (column + 1) * scale).min(clip_x1);
            if left >= right {
                continue;
            }
            for line in top..bottom {
                let start = line as usize * stride;
                if let Some(span) = plane.get_mut(start + left as usize..start + right as usize) {
                    span.fill(pen.luma);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_digit_and_letter_has_its_own_glyph() {
        let chars: Vec<char> = ('0'..='9').chain('A'..='Z').collect();
        for (i, &a) in chars.iter().enumerate() {
            assert_ne!(glyph(a), UNKNOWN, "{a} has no glyph");
            assert_ne!(glyph(a), [0; 7], "{a} is blank");
            assert!(
                glyph(a).iter().all(|&row| row < 0x20),
                "{a} is wider than 5"
            );
            for &b in &chars[i + 1..] {
                assert_ne!(glyph(a), glyph(b), "{a} and {b} look the same");
            }
        }
    }

    #[test]
    fn lower_case_folds_and_unknown_is_a_box() {
        assert_eq!(glyph('q'), glyph('Q'));
        assert_eq!(glyph('é'), UNKNOWN);
        assert_eq!(glyph('\u{1F600}'), UNKNOWN);
        assert_ne!(glyph('\u{2192}'), UNKNOWN);
        assert_eq!(glyph('\u{2019}'), glyph('\''));
    }

    #[test]
    fn draws_scaled_ink_inside_the_clip_only() {
        let (w, h) = (40u32, 20u32);
        let mut plane = vec![0u8; (w * h) as usize];
        let full = Rect {
            x: 0,
            y: 0,
            width: w,
            height: h,
        };
        draw_text(
            &mut plane,
            w,
            full,
            Pen {
                x: 1,
                y: 2,
                scale: 2,
                luma: 9,
            },
            "1".chars(),
        );
        // '1' row 0 is 0x04: column 2 lit -> pixels x 1+4..1+6 on lines 2..4.
        assert_eq!(plane[(2 * w + 5) as usize], 9);
        assert_eq!(plane[(3 * w + 6) as usize], 9);
        assert_eq!(plane[(2 * w + 4) as usize], 0);
        assert_eq!(plane[(2 * w + 7) as usize], 0);
        // Count: '1' has 1+2+1+1+1+1+3 = 10 lit pixels, each 2x2.
        assert_eq!(plane.iter().filter(|&&p| p == 9).count(), 40);

        let mut clipped = vec![0u8; (w * h) as usize];
        let clip = Rect {
            x: 0,
            y: 0,
            width: 6,
            height: 20,
        };
        draw_text(
            &mut clipped,
            w,
            clip,
            Pen {
                x: 0,
                y: 0,
                scale: 2,
                luma: 9,
            },
            "88".chars(),
        );
        for line in 0..h {
            for col in 6..w {
                assert_eq!(clipped[(line * w + col) as usize], 0);
            }
        }
        assert!(clipped.contains(&9));
    }
}
