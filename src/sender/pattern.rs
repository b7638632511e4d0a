//! The moving test pattern that `--test-stream` shows on the TV, drawn straight into I420.
//!
//! Picture, top to bottom: seven 75% colour bars (SMPTE order: white, yellow, cyan, green,
//! magenta, red, blue) over the top half; a dark track in which a white box sweeps left and
//! right (4 s round trip) so motion is obvious; then on black a large 7-digit frame counter
//! (left), the elapsed stream time `mm:ss.t` (right) and the receiver's label (centred below).
//!
//! Everything is a pure function of (size, label, frame index, elapsed time): no clock reads,
//! no randomness, so equal inputs give equal bytes. The box moves with `elapsed`, the counter
//! with `frame_index`, so a test can change one and find pixels changed only in its region.
//! Colours are limited-range BT.709; only the bars carry chroma, everything else is neutral
//! grey, so the moving parts touch the Y plane only.
//!
//! Owns: layout, the static background, per-frame drawing, and the documented bar colours and
//! regions that receiver-side tests compare decoded pixels against. Must not touch: encoding,
//! the network, or any clock.

use std::time::Duration;

use thiserror::Error;

use super::font::{self, CELL_HEIGHT, CELL_WIDTH, Pen};
use super::frame::{FrameError, I420Frame, Rect, Yuv, check_size};

/// Number of colour bars.
pub const BAR_COUNT: usize = 7;
/// The bars as 75%-amplitude R'G'B' (0..=1 scaled by 0.75), in SMPTE left-to-right order.
const BAR_RGB: [(f32, f32, f32); BAR_COUNT] = [
    (0.75, 0.75, 0.75), // white (75% grey)
    (0.75, 0.75, 0.0),  // yellow
    (0.0, 0.75, 0.75),  // cyan
    (0.0, 0.75, 0.0),   // green
    (0.75, 0.0, 0.75),  // magenta
    (0.75, 0.0, 0.0),   // red
    (0.0, 0.0, 0.75),   // blue
];
/// Human names of the bars, same order.
pub const BAR_NAMES: [&str; BAR_COUNT] =
    ["white", "yellow", "cyan", "green", "magenta", "red", "blue"];

/// Luma of the black background (limited-range black).
pub const BLACK_LUMA: u8 = 0x10;
/// Luma of the track the box sweeps along.
pub const TRACK_LUMA: u8 = 0x40;
/// Luma of the sweeping box and of all text (limited-range white).
pub const WHITE_LUMA: u8 = 0xEB;
/// Neutral chroma.
const GREY_CHROMA: u8 = 0x80;
/// One full left-right-left trip of the sweeping box.
pub const SWEEP_PERIOD: Duration = Duration::from_secs(4);
/// Digits of the frame counter (the index is shown modulo 10^7).
pub const COUNTER_DIGITS: usize = 7;
/// Characters of the clock, `mm:ss.t`.
pub const CLOCK_CHARS: usize = 7;

/// Why a pattern could not be built or drawn.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PatternError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("output frame is {got_width}x{got_height}, the pattern draws {width}x{height}")]
    FrameSizeMismatch {
        width: u32,
        height: u32,
        got_width: u32,
        got_height: u32,
    },
}

/// Converts a non-linear R'G'B' colour (each 0..=1) to limited-range BT.709 Y'CbCr.
pub fn rgb_to_yuv709(r: f32, g: f32, b: f32) -> Yuv {
    const KR: f32 = 0.2126;
    const KB: f32 = 0.0722;
    let luma = KR * r + (1.0 - KR - KB) * g + KB * b;
    let cb = (b - luma) / (2.0 * (1.0 - KB));
    let cr = (r - luma) / (2.0 * (1.0 - KR));
    let quantise = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    Yuv {
        y: quantise(16.0 + 219.0 * luma),
        u: quantise(128.0 + 224.0 * cb),
        v: quantise(128.0 + 224.0 * cr),
    }
}

/// The exact Y/U/V the pattern writes into bar `index` (0 = white … 6 = blue), or `None` past
/// the last bar.
pub fn bar_colour_yuv(index: usize) -> Option<Yuv> {
    BAR_RGB.get(index).map(|&(r, g, b)| rgb_to_yuv709(r, g, b))
}

/// Where everything sits for one frame size and label; all rectangles have even corners.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    bars: [Rect; BAR_COUNT],
    track: Rect,
    sweep_box: Rect,
    counter: Rect,
    clock: Rect,
    label: Rect,
    big_scale: u32,
    label_scale: u32,
}

fn even(v: u32) -> u32 {
    v & !1
}

impl Layout {
    fn new(width: u32, height: u32, label_chars: usize) -> Self {
        let bars_h = even(height / 2);
        let mut bars = [Rect {
            x: 0,
            y: 0,
            width: 0,
            height: bars_h,
        }; BAR_COUNT];
        for (i, bar) in bars.iter_mut().enumerate() {
            let left = even(width * i as u32 / BAR_COUNT as u32);
            let right = even(width * (i as u32 + 1) / BAR_COUNT as u32);
            bar.x = left;
            bar.width = right - left;
        }

        let track_h = even((height / 12).max(4));
        let track = Rect {
            x: 0,
            y: bars_h,
            width,
            height: track_h,
        };
        let box_margin = even(track_h / 6);
        let sweep_box = Rect {
            x: 0,
            y: bars_h + box_margin,
            width: even((width / 16).max(2)),
            height: track_h - 2 * box_margin,
        };

        let text_top = bars_h + track_h;
        let text_h = height - text_top;
        let margin_x = even(width / 32);
        let usable_w = width - 2 * margin_x;
        // Counter and clock side by side with at least one cell between them.
        let cells = (COUNTER_DIGITS + CLOCK_CHARS + 1) as u32;
        let big_scale = (usable_w / (cells * CELL_WIDTH))
            .min(text_h * 11 / 20 / CELL_HEIGHT)
            .max(1);
        // The label row's height does not depend on the label, so nothing else moves with it;
        // a long label only gets smaller text inside that row.
        let label_row_scale = (big_scale * 2 / 3)
            .min(text_h * 3 / 10 / CELL_HEIGHT)
            .max(1);
        let label_fit = usable_w / font::text_width(label_chars.max(1), 1).max(1);
        let label_scale = label_row_scale.min(label_fit).max(1);

        let big_h = CELL_HEIGHT * big_scale;
        let label_row_h = CELL_HEIGHT * label_row_scale;
        let label_h = CELL_HEIGHT * label_scale;
        let gap = even(label_row_h / 2);
        let block_h = big_h + gap + label_row_h;
        let line1_y = even(text_top + text_h.saturating_sub(block_h) / 2);
        let big_w = font::text_width(COUNTER_DIGITS, big_scale);
        let counter = Rect {
            x: margin_x,
            y: line1_y,
            width: big_w,
            height: big_h,
        };
        let clock_w = font::text_width(CLOCK_CHARS, big_scale);
        let clock = Rect {
            x: even(width - margin_x - clock_w),
            y: line1_y,
            width: clock_w,
            height: big_h,
        };
        let label_w = font::text_width(label_chars, label_scale).min(usable_w);
        let label_y = even(line1_y + big_h + gap + (label_row_h - label_h) / 2);
        let label = Rect {
            x: even((width - label_w) / 2),
            y: label_y,
            width: even(label_w),
            height: label_h.min(height - label_y),
        };
        Self {
            bars,
            track,
            sweep_box,
            counter,
            clock,
            label,
            big_scale,
            label_scale,
        }
    }
}

/// A test pattern for one frame size and receiver label. Building it draws the static parts
/// once; [`TestPattern::render`] then copies them and adds the moving parts.
#[derive(Debug, Clone)]
pub struct TestPattern {
    width: u32,
    height: u32,
    label: String,
    layout: Layout,
    background: I420Frame,
}

impl TestPattern {
    /// A pattern of `width`x`height` (even, 96x64 up to 3840x2160) showing `label`. Labels longer
    /// than the frame can show at the smallest text size are cut at the right edge.
    pub fn new(width: u32, height: u32, label: &str) -> Result<Self, PatternError> {
        check_size(width, height)?;
        let max_chars = (width as usize) / (CELL_WIDTH as usize);
        let shown: Vec<char> = label.chars().take(max_chars).collect();
        let layout = Layout::new(width, height, shown.len());
        let mut background = I420Frame::new(width, height)?;
        draw_background(&mut background, &layout, &shown);
        Ok(Self {
            width,
            height,
            label: label.to_owned(),
            layout,
            background,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// A frame of the right size holding the static background (bars, track, label).
    pub fn new_frame(&self) -> I420Frame {
        self.background.clone()
    }

    /// Draws frame `frame_index` at `elapsed` since the stream started into `out`, which must
    /// already have this pattern's size (see [`TestPattern::new_frame`]). Allocates nothing.
    pub fn render(
        &self,
        frame_index: u64,
        elapsed: Duration,
        out: &mut I420Frame,
    ) -> Result<(), PatternError> {
        if out.width != self.width || out.height != self.height {
            return Err(PatternError::FrameSizeMismatch {
                width: self.width,
                height: self.height,
                got_width: out.width,
                got_height: out.height,
            });
        }
        out.validate()?;
        out.y.copy_from_slice(&self.background.y);
        out.u.copy_from_slice(&self.background.u);
        out.v.copy_from_slice(&self.background.v);

        fill_luma(out, self.sweep_box_rect(elapsed), WHITE_LUMA);

        let layout = &self.layout;
        let counter = counter_digits(frame_index);
        draw_luma_text(out, layout.counter, layout.big_scale, &counter);
        let clock = clock_chars(elapsed);
        draw_luma_text(out, layout.clock, layout.big_scale, &clock);
        Ok(())
    }

    /// The full area of bar `index` (0 = white … 6 = blue).
    pub fn bar_rect(&self, index: usize) -> Option<Rect> {
        self.layout.bars.get(index).copied()
    }

    /// The middle of bar `index`, well away from its edges, where a decoded frame should show
    /// [`bar_colour_yuv`] almost exactly: the place to probe on the receiver side.
    pub fn bar_probe_rect(&self, index: usize) -> Option<Rect> {
        let bar = self.bar_rect(index)?;
        Some(bar.inset(even(bar.width.min(bar.height) / 4)))
    }

    /// The track the box sweeps along (changes with `elapsed`).
    pub fn sweep_track_rect(&self) -> Rect {
        self.layout.track
    }

    /// Where the sweeping box is at `elapsed`: it starts at the left edge, reaches the right
    /// edge at half of [`SWEEP_PERIOD`] and comes back.
    pub fn sweep_box_rect(&self, elapsed: Duration) -> Rect {
        let base = self.layout.sweep_box;
        let travel = u128::from(self.width - base.width);
        let period = SWEEP_PERIOD.as_millis();
        let phase = elapsed.as_millis() % period;
        let half = period / 2;
        let along = if phase < half { phase } else { period - phase };
        let x = travel * along / half;
        Rect {
            x: even(u32::try_from(x).unwrap_or(0)),
            ..base
        }
    }

    /// The frame counter's area (changes with `frame_index`).
    pub fn counter_rect(&self) -> Rect {
        self.layout.counter
    }

    /// The clock's area (changes with `elapsed`, once per tenth of a second).
    pub fn clock_rect(&self) -> Rect {
        self.layout.clock
    }

    /// The label's area (static).
    pub fn label_rect(&self) -> Rect {
        self.layout.label
    }
}

fn draw_background(frame: &mut I420Frame, layout: &Layout, label: &[char]) {
    let (w, cw) = (frame.width as usize, frame.chroma_width() as usize);
    for (i, bar) in layout.bars.iter().enumerate() {
        let colour = bar_colour_yuv(i).unwrap_or(Yuv {
            y: BLACK_LUMA,
            u: GREY_CHROMA,
            v: GREY_CHROMA,
        });
        let (x0, x1) = (bar.x as usize, (bar.x + bar.width) as usize);
        for row in bar.y as usize..(bar.y + bar.height) as usize {
            frame.y[row * w + x0..row * w + x1].fill(colour.y);
        }
        for row in bar.y as usize / 2..(bar.y + bar.height) as usize / 2 {
            frame.u[row * cw + x0 / 2..row * cw + x1 / 2].fill(colour.u);
            frame.v[row * cw + x0 / 2..row * cw + x1 / 2].fill(colour.v);
        }
    }
    fill_luma(frame, layout.track, TRACK_LUMA);
    draw_luma_text(frame, layout.label, layout.label_scale, label);
}

fn fill_luma(frame: &mut I420Frame, rect: Rect, luma: u8) {
    let w = frame.width as usize;
    let right = (rect.x + rect.width).min(frame.width) as usize;
    let bottom = (rect.y + rect.height).min(frame.height) as usize;
    for row in rect.y as usize..bottom {
        if let Some(span) = frame.y.get_mut(row * w + rect.x as usize..row * w + right) {
            span.fill(luma);
        }
    }
}

fn draw_luma_text(frame: &mut I420Frame, rect: Rect, scale: u32, text: &[char]) {
    let stride = frame.width;
    let pen = Pen {
        x: rect.x,
        y: rect.y,
        scale,
        luma: WHITE_LUMA,
    };
    font::draw_text(&mut frame.y, stride, rect, pen, text.iter().copied());
}

/// `frame_index` modulo 10^7 as seven zero-padded digits.
fn counter_digits(frame_index: u64) -> [char; COUNTER_DIGITS] {
    let mut digits = ['0'; COUNTER_DIGITS];
    let mut rest = frame_index;
    for slot in digits.iter_mut().rev() {
        *slot = decimal_digit(rest % 10);
        rest /= 10;
    }
    digits
}

/// `elapsed` as `mm:ss.t` (minutes modulo 100, tenths truncated).
fn clock_chars(elapsed: Duration) -> [char; CLOCK_CHARS] {
    let tenths = elapsed.as_millis() / 100;
    let minutes = (tenths / 600) % 100;
    let seconds = (tenths / 10) % 60;
    let tenth = tenths % 10;
    [
        decimal_digit(minutes / 10),
        decimal_digit(minutes % 10),
        ':',
        decimal_digit(seconds / 10),
        decimal_digit(seconds % 10),
        '.',
        decimal_digit(tenth),
    ]
}

fn decimal_digit(d: impl Into<u128>) -> char {
    char::from_digit((d.into() % 10) as u32, 10).unwrap_or('?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_seven_digits_modulo_ten_million() {
        assert_eq!(counter_digits(0).iter().collect::<String>(), "0000000");
        assert_eq!(counter_digits(1234).iter().collect::<String>(), "0001234");
        assert_eq!(
            counter_digits(12_345_678).iter().collect::<String>(),
            "2345678"
        );
    }

    #[test]
    fn clock_shows_minutes_seconds_tenths() {
        let show = |ms| {
            clock_chars(Duration::from_millis(ms))
                .iter()
                .collect::<String>()
        };
        assert_eq!(show(0), "00:00.0");
        assert_eq!(show(99), "00:00.0");
        assert_eq!(show(61_950), "01:01.9");
        assert_eq!(show(100 * 60_000 + 5_300), "00:05.3");
    }

    #[test]
    fn layout_fits_inside_the_frame_at_every_size() {
        for &(w, h) in &[
            (96, 64),
            (320, 240),
            (640, 360),
            (1280, 720),
            (1920, 1080),
            (3840, 2160),
            (2000, 64),
            (96, 2000),
        ] {
            let pattern = TestPattern::new(w, h, "AIRGLASS TEST \u{2192} Living Room TV").unwrap();
            let l = &pattern.layout;
            let mut rects = l.bars.to_vec();
            rects.extend([l.track, l.sweep_box, l.counter, l.clock, l.label]);
            for r in rects {
                assert!(r.width > 0 && r.height > 0, "{w}x{h}: empty {r:?}");
                assert!(
                    r.x + r.width <= w && r.y + r.height <= h,
                    "{w}x{h}: {r:?} leaves the frame"
                );
                assert!(
                    r.x % 2 == 0 && r.y % 2 == 0 && r.width % 2 == 0 && r.height % 2 == 0,
                    "{w}x{h}: odd {r:?}"
                );
            }
            assert!(
                l.counter.x + l.counter.width <= l.clock.x,
                "{w}x{h}: counter overlaps clock"
            );
            assert!(l.track.y >= l.bars[0].height && l.counter.y >= l.track.y + l.track.height);
            assert!(l.label.y >= l.counter.y + l.counter.height);
            assert_eq!(l.bars[BAR_COUNT - 1].x + l.bars[BAR_COUNT - 1].width, w);
        }
    }
}
