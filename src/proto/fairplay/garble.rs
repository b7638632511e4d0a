//! The "hand garble" inside the SAP hash: a fixed, irregular sequence of byte updates.
//!
//! Owns: one pass over five buffers (`b0` 20 bytes, `b1` the 210 scrambled bytes, `b2` 35,
//! `b3` 132 result slots, `b4` 21) in which each step reads bytes, chosen partly by other
//! bytes, and writes one byte. The steps have no structure worth naming; they are reproduced
//! one by one, in order, because later steps read what earlier ones wrote. Must not touch
//! how the buffers are prepared or folded afterwards (`sap_hash`).
//!
//! Arithmetic model: the reference does each step in 32-bit C integers (bytes promoted to
//! `int`, mixed with `unsigned int` temporaries) and stores the low byte. All arithmetic here
//! is on [`Wrapping<u32>`], which gives the same low bits for `+ - * & | ^ ! <<`. Right
//! shifts, divisions and remainders depend on the high bits, so every one of them below is
//! applied only to a value that is non-negative and complete in both models (checked step by
//! step against the reference), or, where the reference converts to unsigned first, to the
//! same unsigned value. Helpers that take a byte (`rol8`, `rotl`, `ror8_or`, ...) truncate
//! their argument as the reference's `uint8_t` parameters do.

use std::num::Wrapping;

type W = Wrapping<u32>;

/// Shorthand for a constant in the wrapping model.
const fn w(value: u32) -> W {
    Wrapping(value)
}

/// The low byte, as stored into a buffer.
fn low(value: W) -> u8 {
    value.0 as u8
}

/// A shift amount from a value already masked to 0..=7.
fn amount(value: W) -> usize {
    (value.0 & 7) as usize
}

/// Rotates a byte left by 1..=7 (`count` 0 leaves it unchanged), as a byte.
fn rol8(input: W, count: usize) -> W {
    w(u32::from(low(input).rotate_left((count & 7) as u32)))
}

/// `(x << n) | (x >> (8 - n))` on a byte, without dropping the bits shifted past bit 7.
fn rol8_wide(input: W, count: usize) -> W {
    let x = u32::from(low(input));
    w((x << count) | (x >> (8 - count)))
}

/// Byte rotate right by `count`, keeping the bits shifted past bit 7; a count of 0 gives 0.
fn ror8_or_zero(input: W, count: W) -> W {
    let (x, n) = (u32::from(low(input)), amount(count));
    if n == 0 {
        w(0)
    } else {
        w((x >> n) | (x << (8 - n)))
    }
}

/// Byte rotate left by `count`; a count of 0 gives 0.
fn rol8_or_zero(input: W, count: W) -> W {
    let n = amount(count);
    if n == 0 { w(0) } else { rol8(input, n) }
}

/// `(x << n) ^ (x >> (8 - n))` on a byte, unmasked; a count of 0 gives 0.
fn rol8_xor_wide(input: W, count: W) -> W {
    let (x, n) = (u32::from(low(input)), amount(count));
    if n == 0 {
        w(0)
    } else {
        w((x << n) ^ (x >> (8 - n)))
    }
}

/// The five buffers the garble works on.
pub(super) struct GarbleBuffers {
    pub(super) b0: [u8; 20],
    pub(super) b1: [u8; 210],
    pub(super) b2: [u8; 35],
    pub(super) b3: [u8; 132],
    pub(super) b4: [u8; 21],
}

impl GarbleBuffers {
    // Reads at fixed positions (compile-time constants in every call).
    fn r0(&self, i: usize) -> W {
        w(u32::from(self.b0[i]))
    }
    fn r1(&self, i: usize) -> W {
        w(u32::from(self.b1[i]))
    }
    fn r2(&self, i: usize) -> W {
        w(u32::from(self.b2[i]))
    }
    fn r3(&self, i: usize) -> W {
        w(u32::from(self.b3[i]))
    }

    // Reads at a position chosen by a value, reduced modulo the buffer length (unsigned).
    fn m0(&self, at: W) -> W {
        w(u32::from(self.b0[(at.0 % 20) as usize]))
    }
    fn m2(&self, at: W) -> W {
        w(u32::from(self.b2[(at.0 % 35) as usize]))
    }
    fn m4(&self, at: W) -> W {
        w(u32::from(self.b4[(at.0 % 21) as usize]))
    }

    /// Runs every garbling step in order.
    pub(super) fn garble(&mut self) {
        let b4_at_b1_206 = self.m4(self.r1(206));
        let pick = rol8_wide(b4_at_b1_206, 4);
        self.b2[12] =
            low(w(0x14)
                + (((self.r1(64) & w(92)) | ((self.r1(99) / w(3)) & w(35))) & self.m4(pick)));

        let fifth = self.r1(99) / w(5);
        self.b1[4] = low(fifth * fifth * w(2));
        self.b2[34] = 0xb8;

        let v = self.m2(self.r1(203));
        self.b1[153] = low(self.r1(153) ^ (v * v * self.r1(190)));
        self.b0[3] = low(self.r0(3) - (((self.m4(self.r1(205)) >> 1) & w(80)) | w(0xe6440)));
        self.b0[16] = 0x93;
        self.b0[13] = 0x62;
        self.b1[33] = low(self.r1(33) - (self.m4(self.r1(36)) & w(0xf6)));

        let saved_b2 = self.m2(self.r1(67));
        self.b2[12] = 0x07;
        let saved_b0 = self.m0(self.r1(181));
        self.b1[2] = low(self.r1(2) - w(3136));
        self.b0[19] = low(self.m4(self.r1(58)));
        self.b3[0] = low(w(92) - self.m2(self.r1(32)));
        self.b3[4] = low(self.m2(self.r1(15)) + w(0x9e));
        let at = (self.m2(self.r1(15)) + w(0x9e)) & w(0xff);
        self.b1[34] = low(self.r1(34) + self.m4(at) / w(5));
        self.b0[19] = low(self.r0(19) + (w(0xffff_fee6) - ((self.m0(self.r3(4)) >> 1) & w(102))));

        let x = self.m4(self.r1(190));
        let twisted = (self.r1(72) >> amount(x)) ^ (self.r1(72) << amount(w(7) - (x - w(1))));
        self.b1[15] = low((w(3) * (twisted - w(3) * self.m4(self.r1(126)))) ^ self.r1(15));

        let v = self.m2(self.r1(181));
        self.b0[15] = low(self.r0(15) ^ (v * v * v));
        self.b2[4] = low(self.r2(4) ^ (self.r1(202) / w(3)));

        let a = w(92) - self.m0(self.r3(0));
        let not105 = !self.r1(105);
        let e = (a & w(0xc6)) | (not105 & w(0xc6)) | (a & not105);
        self.b2[1] = low(self.r2(1) + e * e * e);

        let product = (w(224) | (self.m4(self.r1(92)) & w(27))) * self.m2(self.r1(41));
        self.b0[19] = low(self.r0(19) ^ (product / w(3)));
        self.b1[140] = low(self.r1(140) + ror8_or_zero(w(92), self.r1(5)));

        let k = !self.r1(4) ^ self.m2(self.r1(12));
        self.b2[12] = low(self.r2(12) + (((k | self.r1(182)) & w(192)) | (k & self.r1(182))));
        self.b1[36] = low(self.r1(36) + w(125));

        let q = (w(74) & self.r1(138)) | ((w(74) | self.r1(138)) & self.r0(15));
        let r = self.m0(self.r1(43));
        self.b1[124] = low(rol8_wide((q & r) | ((q | r) & w(95)), 4));
        let mask = (self.m4(self.r1(68)) & w(46)) << 1;
        self.b3[8] = low((((self.m0(self.r3(4)) & w(95)) & mask) | w(16)) ^ w(92));

        let a = self.r1(177) + self.m4(self.r1(79));
        let fifths = (w(3) * self.r1(148)) / w(5);
        let d = (((a >> 1) | fifths) & self.r2(1)) | ((a >> 1) & fifths);
        self.b3[12] = low(w(0) - w(34) - d);

        let a = w(8) - (self.r2(22) & w(7));
        let b = self.r1(33) >> amount(a);
        let c = self.r1(33) << amount(self.r2(22));
        let gain = (self.m2(self.r3(0)) & w(159)) | self.m0(self.r3(4)) | w(8);
        self.b2[16] = low(self.r2(16) + (gain - ((b ^ c) | w(128))));
        self.b0[14] = low(self.r0(14) ^ self.m2(self.r3(12)));

        let a = rol8_or_zero(
            self.m4(self.m0(self.r1(201))),
            (self.m2(self.r1(112)) << 1) & w(7),
        );
        let d = (self.m0(self.r1(208)) & w(131)) | (self.m0(self.r1(164)) & w(124));
        self.b1[19] = low(self.r1(19) + ((a & (d / w(5))) | ((a | (d / w(5))) & w(37))));

        let v = self.m4(self.r1(45)) + w(92);
        self.b2[8] = low(ror8_or_zero(w(140), (v * v) & w(7)));
        self.b1[190] = 56;
        self.b2[8] = low(self.r2(8) ^ self.r3(0));
        self.b1[53] = low(!((self.m0(self.r1(83)) | w(204)) / w(5)));
        self.b0[13] = low(self.r0(13) + self.m0(self.r1(41)));

        let g = self.m2(self.r3(0));
        self.b0[10] = low(((g & self.r1(2)) | ((g | self.r1(2)) & self.r3(12))) / w(15));

        let h = self.m4(self.r1(2)) & w(68);
        let g = self.m2(self.r3(8));
        let a = (((w(56) | h) | g) & w(42)) | ((h | w(56)) & g);
        self.b3[16] = low(a * a + w(110));
        self.b3[20] = low(w(202) - self.r3(16));
        self.b3[24] = self.b1[151];
        self.b2[13] = low(self.r2(13) ^ self.m4(self.r3(0)));

        let g = self.m2(self.r1(179)) - w(38);
        let b = (g & w(177)) | (self.r3(12) & w(177));
        let c = g & self.r3(12);
        self.b3[28] = low(w(30) + (b | c) * (b | c));
        self.b3[32] = low(self.r3(28) + w(62));

        let sum = self.r3(20) + (self.r3(0) & w(74));
        let not_b4 = !self.m4(self.r3(0));
        let a = (sum | not_b4) & w(121);
        let b = sum & not_b4;
        let a_or_b = a | b;
        let flipped = a_or_b ^ w(0xffff_ffa6);
        let c = ((flipped | self.r3(0)) & w(4)) | (flipped & self.r3(0));
        self.b1[47] = low((self.m2(self.r1(89)) + c) ^ self.r1(47));

        let rotated = rol8((saved_b0 & w(179)) + w(68), 2);
        self.b3[36] = low(((rotated & self.r0(3)) | (saved_b2 & !self.r0(3))) - w(15));
        self.b1[123] = low(self.r1(123) ^ w(221));

        let a = self.m4(self.r3(0)) / w(3) - self.m2(self.r3(4));
        let c = (((self.r3(0) & w(163)) + w(92)) & w(246)) | (self.r3(0) & w(92));
        let e = ((c | self.r3(24)) & w(54)) | (c & self.r3(24));
        self.b3[40] = low(a - e);
        self.b3[44] = low(a_or_b ^ w(81) ^ (((self.r3(0) >> 1) & w(101)) + w(26)));
        self.b3[48] = low(self.m2(self.r3(4)) & w(27));
        self.b3[52] = 27;
        self.b3[56] = 199;

        let (p, q) = (self.r3(40), self.r3(24));
        // Note: the first b4 read reduces its index modulo 20, the others modulo 21.
        let b4_mod20 = w(u32::from(self.b4[(self.r3(0).0 % 20) as usize]));
        let b4x = self.m4(self.r3(0));
        let m = ((p | q) & w(177)) | (p & q);
        let y = ((b4_mod20 & w(177)) | w(176)) | (b4x & !w(3));
        let z = (((p & q) | ((p | q) & w(177))) & w(199))
            | ((((b4x & w(1)) + w(176)) | (b4x & !w(3))) & self.r3(56));
        self.b3[64] = low(self.r3(4) + ((((m & y) | z) & !self.r3(52)) | self.r3(48)));

        self.b2[33] = low(self.r2(33) ^ self.r1(26));
        self.b1[106] = low(self.r1(106) ^ self.r3(20) ^ w(133));
        let v = (self.r3(64) / w(3)) - (w(275) | (self.r3(0) & w(247)));
        self.b2[30] = low(v ^ self.m0(self.r1(122)));
        self.b1[22] = low((self.m2(self.r1(90)) & w(95)) | w(68));

        let a = (self.m4(self.r3(36)) & w(184)) | (self.m2(self.r3(44)) & !w(184));
        self.b2[18] = low(self.r2(18) + ((a * a * a) >> 1));
        self.b2[5] = low(self.r2(5) - self.m4(self.r1(92)));

        let a = (((self.r1(41) & !w(24)) | (self.m2(self.r1(183)) & w(24)))
            & (self.r3(16) + w(53)))
            | (self.r3(20) & self.m2(self.r3(20)));
        let b = (self.r1(17) & !self.r3(44)) | (self.m0(self.r1(59)) & self.r3(44));
        self.b2[18] = low(self.r2(18) ^ (a * b));

        let a = ror8_or_zero(self.r1(11), self.m2(self.r1(28))) & w(7);
        let b14 = self.r0(14);
        let b = (((self.m0(self.r1(93)) & !b14) | (b14 & w(150))) & !w(28)) | (self.r1(7) & w(28));
        let rotated = rol8_or_zero(self.m2(self.r3(0)), a);
        self.b2[22] = low((((b | rotated) & self.r2(33)) | (b & rotated)) + w(74));

        let a = self.m4(self.m0(self.r1(39)) ^ w(217));
        let k = ((self.r3(20) | self.r3(0)) & w(214)) | (self.r3(20) & self.r3(0));
        self.b0[15] = low(self.r0(15) - ((k & a) | ((k | a) & self.r3(32))));

        let g = self.m2(self.r1(57));
        let h = self.m0(self.r3(64));
        let b = ((g & h) | ((h | g) & w(95)) | (self.r3(64) & w(45)) | w(82)) & w(32);
        let c = ((g & h) | ((g | h) & w(95))) & ((self.r3(64) & w(45)) | w(82));
        let d =
            ((self.r3(0) / w(3)) - (self.r3(64) | self.r1(22))) ^ (self.r3(28) + w(62)) ^ (b | c);
        let saved_t = self.m0(d & w(0xff));

        let v = self.m0(self.r1(99));
        self.b3[68] = low((v * v * v * v) | self.m2(self.r3(64)));

        // Bytes saved now and used several steps later.
        let saved_u = self.m0(self.r1(50));
        let saved_w = self.m2(self.r1(138));
        let saved_x = self.m4(self.r1(39));
        let saved_y = self.m0(self.r1(4));
        let saved_z = self.m4(self.r1(202));
        let saved_v = self.m0(self.r1(151));
        let saved_s = self.m2(self.r1(14));
        let saved_r = self.m0(self.r1(145));

        let g = self.m2(self.r3(68));
        let h = self.m0(self.r1(209));
        let a = (g & h) | ((g | h) & w(24));
        let b = rol8_or_zero(self.m4(self.r1(127)), g & w(7));
        let c = (a & self.r0(10)) | (b & !self.r0(10));
        let d = w(7) ^ (self.m4(self.m2(self.r3(36))) << 1);
        self.b3[72] = low((c & w(71)) | (d & !w(71)));

        let left = ((self.m0(self.r3(20)) << 1) & w(159)) | (self.m4(self.r1(190)) & !w(159));
        let right = (((self.m4(self.r3(64)) & w(110)) | (self.m0(self.r1(25)) & !w(110)))
            & !w(150))
            | (self.r1(25) & w(150));
        self.b2[2] = low(self.r2(2) + (left & right));

        let v = ((self.m2(self.r3(20)) & (self.r3(72) ^ self.m2(self.r1(100)))) & !w(34))
            | (self.r1(97) & w(34));
        self.b2[14] = low(self.r2(14) - v);
        self.b0[17] = 115;

        let g = self.m4(self.r1(17));
        let h = self.m0(self.r3(20));
        let k = ((g | h) & self.r3(72)) | (g & h);
        let third = self.r1(50) / w(3);
        self.b1[23] = low(self.r1(23) ^ (((k & third) | ((k | third) & w(246))) << 1));

        let g = self.m0(self.r3(40));
        let k = ((g | self.r1(10)) & w(82)) | (g & self.r1(10));
        self.b0[13] = low(((k & w(209)) | ((self.m0(self.r1(39)) << 1) & w(46))) >> 1);
        self.b2[33] = low(self.r2(33) - (self.r1(113) & w(9)));
        let v = (((w(2) | (self.r1(110) & w(222))) >> 1) & !w(223)) | (self.r3(20) & w(223));
        self.b2[28] = low(self.r2(28) - v);

        let j = rol8_or_zero(saved_v | saved_z, saved_u & w(7));
        let a = (self.r2(16) & saved_t) | (saved_w & !self.r2(16));
        let b = (self.r1(33) & w(17)) | (saved_x & !w(17));
        let fifth = (a + b) / w(5);
        let e = ((saved_y | fifth) & w(147)) | (saved_y & fifth);
        let base = self.r3(8) + j + e;
        let g = self.m4(base & w(0xff));
        let m = (self.r3(40) & g) | ((self.r3(40) | g) & self.r2(23));

        let g = self.m4(self.r3(20)) - w(48);
        let not184 = !self.r1(184);
        self.b0[15] = low(((g & not184) | (g & w(189)) | (w(189) & not184)) & (m * m * m));
        self.b2[22] = low(self.r2(22) + self.r1(183));
        self.b3[76] = low((w(3) * self.m4(self.r1(1))) ^ self.r3(0));

        let a = self.m2(base & w(0xff));
        let g = self.m4(self.r1(178));
        let f =
            (((g & a) | ((g | a) & w(209))) * self.m0(self.r1(13))) * (self.m4(self.r1(26)) >> 1);
        let shifted = f + w(0x733f_fff9);
        let g = shifted * w(198) - ((shifted * w(396) + w(212)) & w(212)) + w(85);
        self.b3[80] = low(self.r3(36) + (g ^ w(148)) + ((g ^ w(107)) << 1) - w(127));
        self.b3[84] = low((self.m2(self.r3(64)) & w(245)) | (self.m2(self.r3(20)) & w(10)));

        let a = self.m0(self.r3(68)) | w(81);
        let v = ((a * a * a) & !self.r0(15)) | ((self.r3(80) / w(15)) & self.r0(15));
        self.b2[18] = low(self.r2(18) - v);
        let tail = self.m4(self.m0(base & w(255))) / w(3);
        self.b3[88] = low(base - self.m0(self.r1(160)) + tail);

        let b = ((saved_r ^ self.r3(72)) & !w(198)) | ((saved_s * saved_s) & w(198));
        let g = self.m4(self.r1(69));
        let f = (g & self.r1(172)) | ((g | self.r1(172)) & ((self.r3(12) - b) + w(77)));
        let v = (self.r3(72) & ((f & w(251)) | w(1))) | (((f & w(250)) | self.r3(72)) & w(198));
        self.b0[16] = low(w(147) - v);

        let g = self.m4(self.r1(168));
        let h = self.m0(self.r1(29));
        let c = (g & h & w(7)) | ((g | h) & w(6));
        let g = self.m4(self.r1(155));
        let f = (g & self.r1(105)) | ((g | self.r1(105)) & w(141));
        self.b0[3] = low(self.r0(3) - self.m4(rol8_xor_wide(f, c)));

        let rotated = ror8_or_zero(self.r0(12), (self.m0(self.r1(61)) / w(5)) & w(7));
        self.b1[5] = low(rotated ^ (!self.m2(self.r3(84)) / w(5)));
        self.b1[198] = low(self.r1(198) + self.r1(3));
        let a = w(162) | self.m2(self.r3(64));
        self.b1[164] = low(self.r1(164) + (a * a) / w(5));

        let g = ror8_or_zero(w(139), self.r3(80));
        let cube = self.m4(self.r3(64)) * self.m4(self.r3(64)) * self.m4(self.r3(64));
        let c = (cube & w(95)) | (self.m0(self.r3(40)) & !w(95));
        let h = self.m0(self.r3(20));
        self.b3[92] = low((g & w(12)) | (h & w(12)) | (g & h) | c);
        let v = (self.r1(103) & w(32)) | (self.r3(92) & (self.r1(103) | w(60))) | w(16);
        self.b2[12] = low(self.r2(12) + v / w(3));
        self.b3[96] = self.b1[143];
        self.b3[100] = 27;

        let chosen = ((self.r3(40) & !self.r2(8)) | (self.r1(35) & self.r2(8))) & self.r3(64);
        self.b3[104] = low(chosen ^ w(119));
        self.b3[108] = low(w(238) & (chosen << 1));
        let third84 = self.r3(84) / w(3);
        let cleared = !self.r3(64) & third84;
        self.b3[112] = low(cleared ^ w(49));
        self.b3[116] = low(w(98) & (cleared << 1));

        let a = (self.r1(35) & self.r2(8)) | (self.r3(40) & !self.r2(8));
        let b = (a & self.r3(64)) | (third84 & !self.r3(64));
        let first = b & (w(86) + ((self.r1(172) & w(64)) >> 1));
        let second = ((((self.r1(172) & w(65)) >> 1) ^ w(86)) | (cleared | chosen)) & self.r3(100);
        self.b1[143] = low(self.r3(96) - (first | second));
        self.b2[29] = 162;

        let a = ((self.m4(self.r3(88)) & w(160)) | (self.m0(self.r1(125)) & w(95))) >> 1;
        let b = self.m2(self.r1(149)) ^ (self.r1(43) * self.r1(43));
        self.b0[15] = low(self.r0(15) + ((b & a) | ((a | b) & w(115))));
        self.b3[120] = low(self.r3(64) - self.m0(self.r3(40)));
        self.b1[95] = low(self.m4(self.r3(20)));

        let g = self.m2(self.r1(17));
        let a = ror8_or_zero(self.m2(self.r3(80)), (g * g * g) & w(7));
        self.b0[7] = low(self.r0(7) - a * a);
        let g = self.m4(self.r1(202));
        self.b2[8] = low(self.r2(8) - self.r1(184) + g * g * g);
        self.b0[16] = low((self.m2(self.r1(102)) << 1) & w(132));
        self.b3[124] = low((self.m4(self.r3(40)) >> 1) ^ self.r3(68));

        let v = ((self.m4(self.r1(80)) << 1) & !w(177)) | (self.m4(self.m4(self.r3(88))) & w(177));
        self.b0[7] = low(self.r0(7) - (self.m0(self.r1(191)) - v));
        self.b0[6] = low(self.m0(self.r1(119)));

        let a = (self.m4(self.r1(190)) & !w(209)) | (self.r1(118) & w(209));
        let b = self.m0(self.r3(120)) * self.m0(self.r3(120));
        let sum = self.m2(self.r1(71)) + self.m2(self.r1(15));
        self.b0[12] = low((self.m0(self.r3(84)) ^ sum) & ((a & b) | ((a | b) & w(27))));

        let g = self.m2(self.r3(88));
        let b = (self.r1(32) & g) | ((self.r1(32) | g) & w(23));
        let d = ((self.m4(self.r1(57)) * w(231)) & w(169)) | (b & w(86));
        let f = (((self.m0(self.r1(82)) & !w(29)) | (self.m4(self.r3(124)) & w(29))) & w(190))
            | (self.m4(d / w(5)) & !w(190));
        let g = self.m0(self.r3(40));
        let h = g * g * g;
        let k = (h & self.r1(82)) | (h & w(92)) | (self.r1(82) & w(92));
        self.b3[128] = low(((f & k) | ((f | k) & w(192))) ^ (d / w(5)));

        let left = (self.m0(self.r3(120)) << 1) * self.r1(5);
        let right = rol8_or_zero(self.r3(76), self.m4(self.r3(124))) & (self.r3(20) + w(110));
        self.b2[25] = low(self.r2(25) ^ (left - right));
    }
}
