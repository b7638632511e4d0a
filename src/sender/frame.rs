//! The raw picture type the built-in sender passes around: one I420 (YUV 4:2:0, 8-bit, planar,
//! no padding) frame, plus the small geometry and colour types that describe parts of it.
//!
//! Owns: frame allocation and validation, region averages for tests. Must not touch: drawing
//! (that is `pattern`), encoding (that is `encoder`), or anything about the network.

use thiserror::Error;

/// Smallest frame side the sender accepts (the pattern's text needs room).
pub const MIN_WIDTH: u32 = 96;
/// Smallest frame height the sender accepts.
pub const MIN_HEIGHT: u32 = 64;
/// Largest frame width (OpenH264's own limit for a landscape picture).
pub const MAX_WIDTH: u32 = 3840;
/// Largest frame height.
pub const MAX_HEIGHT: u32 = 2160;

/// Why a frame could not be made or used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame size {width}x{height} is odd; I420 needs even width and height")]
    OddSize { width: u32, height: u32 },
    #[error(
        "frame size {width}x{height} is outside {MIN_WIDTH}x{MIN_HEIGHT}..={MAX_WIDTH}x{MAX_HEIGHT}"
    )]
    SizeOutOfRange { width: u32, height: u32 },
    #[error("{plane} plane holds {got} bytes, a {width}x{height} frame needs {expected}")]
    PlaneLength {
        plane: char,
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
}

/// Checks that `width`x`height` is a size the sender can draw and encode.
pub fn check_size(width: u32, height: u32) -> Result<(), FrameError> {
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(FrameError::OddSize { width, height });
    }
    if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) || !(MIN_HEIGHT..=MAX_HEIGHT).contains(&height) {
        return Err(FrameError::SizeOutOfRange { width, height });
    }
    Ok(())
}

/// One 8-bit colour sample triple (limited range, BT.709 matrix for everything the pattern draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv {
    pub y: u8,
    pub u: u8,
    pub v: u8,
}

/// A pixel rectangle in luma coordinates; `x`, `y`, `width` and `height` are always even for
/// the rectangles the pattern reports, so they map exactly onto the chroma planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// Whether the luma pixel (`px`, `py`) lies inside.
    pub fn contains(&self, px: u32, py: u32) -> bool {
        px >= self.x && py >= self.y && px - self.x < self.width && py - self.y < self.height
    }

    /// The same rectangle shrunk by `margin` on every side (empty if it would vanish).
    pub fn inset(&self, margin: u32) -> Rect {
        let shrink = margin.saturating_mul(2);
        Rect {
            x: self.x + margin.min(self.width / 2),
            y: self.y + margin.min(self.height / 2),
            width: self.width.saturating_sub(shrink),
            height: self.height.saturating_sub(shrink),
        }
    }
}

/// A planar I420 frame without row padding: `y` is `width*height` bytes, `u` and `v` are
/// `(width/2)*(height/2)` bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Frame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420Frame {
    /// A black (limited-range) frame of the given even size.
    pub fn new(width: u32, height: u32) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (luma, chroma) = plane_lengths(width, height);
        Ok(Self {
            width,
            height,
            y: vec![0x10; luma],
            u: vec![0x80; chroma],
            v: vec![0x80; chroma],
        })
    }

    /// Wraps planes that came from elsewhere (a decoder, a file) after checking their lengths.
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<Self, FrameError> {
        let frame = Self {
            width,
            height,
            y,
            u,
            v,
        };
        frame.validate()?;
        Ok(frame)
    }

    /// Checks the size rules and that every plane has exactly the length the size implies
    /// (the fields are public, so a caller may have changed them).
    pub fn validate(&self) -> Result<(), FrameError> {
        check_size(self.width, self.height)?;
        let (luma, chroma) = plane_lengths(self.width, self.height);
        for (plane, expected, got) in [
            ('Y', luma, self.y.len()),
            ('U', chroma, self.u.len()),
            ('V', chroma, self.v.len()),
        ] {
            if expected != got {
                return Err(FrameError::PlaneLength {
                    plane,
                    width: self.width,
                    height: self.height,
                    expected,
                    got,
                });
            }
        }
        Ok(())
    }

    /// Width of one chroma row in bytes.
    pub fn chroma_width(&self) -> u32 {
        self.width / 2
    }

    /// The mean Y, U and V over `rect` (chroma over the matching half-size area), rounded.
    /// `None` when the rectangle is empty, leaves the frame, or the planes are inconsistent.
    pub fn mean_yuv(&self, rect: Rect) -> Option<Yuv> {
        if self.validate().is_err() || rect.width < 2 || rect.height < 2 {
            return None;
        }
        let right = rect.x.checked_add(rect.width)?;
        let bottom = rect.y.checked_add(rect.height)?;
        if right > self.width || bottom > self.height {
            return None;
        }
        let y = plane_mean(&self.y, self.width, rect.x, rect.y, right, bottom)?;
        let (cx, cy, cr, cb) = (
            rect.x / 2,
            rect.y / 2,
            right.div_ceil(2),
            bottom.div_ceil(2),
        );
        let cw = self.chroma_width();
        let u = plane_mean(&self.u, cw, cx, cy, cr, cb)?;
        let v = plane_mean(&self.v, cw, cx, cy, cr, cb)?;
        Some(Yuv { y, u, v })
    }
}

/// (luma bytes, bytes of each chroma plane) for an even size.
pub(crate) fn plane_lengths(width: u32, height: u32) -> (usize, usize) {
    let (w, h) = (width as usize, height as usize);
    (w * h, (w / 2) * (h / 2))
}

fn plane_mean(plane: &[u8], stride: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> Option<u8> {
    let stride = stride as usize;
    let mut sum: u64 = 0;
    let mut count: u64 = 0;
    for row in y0 as usize..y1 as usize {
        let start = row * stride;
        let line = plane.get(start + x0 as usize..start + x1 as usize)?;
        sum += line.iter().map(|&b| u64::from(b)).sum::<u64>();
        count += line.len() as u64;
    }
    if count == 0 {
        return None;
    }
    u8::try_from((sum + count / 2) / count).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_odd_and_out_of_range_sizes() {
        assert_eq!(
            I420Frame::new(321, 240),
            Err(FrameError::OddSize {
                width: 321,
                height: 240
            })
        );
        assert_eq!(
            I420Frame::new(320, 241).map(|_| ()),
            Err(FrameError::OddSize {
                width: 320,
                height: 241
            })
        );
        assert!(matches!(
            I420Frame::new(64, 64),
            Err(FrameError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            I420Frame::new(4096, 2160),
            Err(FrameError::SizeOutOfRange { .. })
        ));
    }

    #[test]
    fn new_frame_has_exact_plane_lengths() {
        let frame = I420Frame::new(320, 240).unwrap();
        assert_eq!(frame.y.len(), 320 * 240);
        assert_eq!(frame.u.len(), 160 * 120);
        assert_eq!(frame.v.len(), 160 * 120);
        assert_eq!(frame.validate(), Ok(()));
    }

    #[test]
    fn rejects_planes_of_wrong_length() {
        let err = I420Frame::from_planes(320, 240, vec![0; 320 * 240], vec![0; 10], vec![0; 10]);
        assert!(matches!(
            err,
            Err(FrameError::PlaneLength { plane: 'U', .. })
        ));
    }

    #[test]
    fn mean_covers_only_the_rectangle() {
        let mut frame = I420Frame::new(128, 64).unwrap();
        // Paint luma columns 10..20 to 200 on every row, chroma under them to 50/60.
        for row in 0..64 {
            frame.y[row * 128 + 10..row * 128 + 20].fill(200);
        }
        for row in 0..32 {
            frame.u[row * 64 + 5..row * 64 + 10].fill(50);
            frame.v[row * 64 + 5..row * 64 + 10].fill(60);
        }
        let inside = Rect {
            x: 10,
            y: 0,
            width: 10,
            height: 64,
        };
        assert_eq!(
            frame.mean_yuv(inside),
            Some(Yuv {
                y: 200,
                u: 50,
                v: 60
            })
        );
        // Half the columns painted: mean of 200 and 16 is 108.
        let half = Rect {
            x: 10,
            y: 0,
            width: 20,
            height: 2,
        };
        assert_eq!(frame.mean_yuv(half).map(|c| c.y), Some(108));
        let outside = Rect {
            x: 120,
            y: 0,
            width: 10,
            height: 2,
        };
        assert_eq!(frame.mean_yuv(outside), None);
    }

    #[test]
    fn inset_and_contains() {
        let r = Rect {
            x: 10,
            y: 20,
            width: 30,
            height: 40,
        };
        assert!(r.contains(10, 20) && r.contains(39, 59));
        assert!(!r.contains(40, 20) && !r.contains(10, 60) && !r.contains(9, 20));
        assert_eq!(
            r.inset(4),
            Rect {
                x: 14,
                y: 24,
                width: 22,
                height: 32
            }
        );
    }
}
