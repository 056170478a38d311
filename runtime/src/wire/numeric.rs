//! PostgreSQL `numeric`, carried in the server's own binary form.

use std::error::Error as StdError;
use std::fmt;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, ToSql, Type};

/// A PostgreSQL `numeric` as the server sends it in binary: a header (digit count, weight, sign,
/// display scale) and base-10000 digits. The sync moves numbers and never computes with them, so
/// it keeps them in this form: every value PostgreSQL holds goes through exactly (any precision,
/// `NaN`, `Infinity`), with no conversion per value. rust_decimal, used before, stops at 28
/// digits (a larger value failed the read) and converting to it and back was a quarter of the
/// engine's CPU per row.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Numeric(Repr);

/// Bytes held without an allocation: the header and 7 digits, 28 decimal digits.
const INLINE: usize = 22;
const HEADER: usize = 8;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    // The bytes past `len` stay zero, so the derived equality compares values.
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PLUS_INFINITY: u16 = 0xD000;
const MINUS_INFINITY: u16 = 0xF000;
/// PostgreSQL's limit on a numeric's display scale.
const MAX_SCALE: usize = 0x3FFF;

/// The parts of a binary numeric, decoded from its header.
struct Parts<'a> {
    weight: i16,
    sign: u16,
    scale: usize,
    digits: &'a [u8],
}

impl Parts<'_> {
    fn digit(&self, i: usize) -> u16 {
        self.digits.get(2 * i..2 * i + 2).map_or(0, |d| u16::from_be_bytes([d[0], d[1]]))
    }
}

impl Numeric {
    /// A value from the binary form the server sends, checked as the server checks what it receives.
    pub fn from_wire(raw: &[u8]) -> Result<Numeric, String> {
        let word = |i: usize| raw.get(2 * i..2 * i + 2).map(|w| u16::from_be_bytes([w[0], w[1]]));
        let (Some(count), Some(sign), Some(scale)) = (word(0), word(2), word(3)) else {
            return Err(format!("a numeric of {} bytes is shorter than its header", raw.len()));
        };
        if raw.len() != HEADER + 2 * count as usize {
            return Err(format!("a numeric of {} digits is {} bytes long", count, raw.len()));
        }
        if ![POSITIVE, NEGATIVE, NAN, PLUS_INFINITY, MINUS_INFINITY].contains(&sign) {
            return Err(format!("a numeric's sign is {sign:#06x}"));
        }
        if scale as usize > MAX_SCALE {
            return Err(format!("a numeric's scale is {scale}"));
        }
        if let Some(d) = (0..count as usize).filter_map(|i| word(4 + i)).find(|d| *d > 9999) {
            return Err(format!("a numeric's base-10000 digit is {d}"));
        }
        Ok(Numeric(if raw.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..raw.len()].copy_from_slice(raw);
            Repr::Inline { len: raw.len() as u8, bytes }
        } else {
            Repr::Heap(raw.into())
        }))
    }

    /// The binary form, as the server reads it.
    pub fn as_wire(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Heap(bytes) => bytes,
        }
    }

    fn parts(&self) -> Parts<'_> {
        let raw = self.as_wire();
        let word = |i: usize| u16::from_be_bytes([raw[2 * i], raw[2 * i + 1]]);
        Parts { weight: word(1) as i16, sign: word(2), scale: word(3) as usize, digits: &raw[HEADER..] }
    }

    fn from_parts(weight: i16, sign: u16, scale: usize, digits: &[u16]) -> Result<Numeric, String> {
        let mut raw = Vec::with_capacity(HEADER + 2 * digits.len());
        for word in [digits.len() as u16, weight as u16, sign, scale as u16].iter().chain(digits) {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        Numeric::from_wire(&raw)
    }
}

/// The text PostgreSQL prints for the value (`numeric::text`).
impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.parts();
        match p.sign {
            NAN => return f.write_str("NaN"),
            PLUS_INFINITY => return f.write_str("Infinity"),
            MINUS_INFINITY => return f.write_str("-Infinity"),
            NEGATIVE => f.write_str("-")?,
            _ => {}
        }
        // Digit i stands for digit * 10000^(weight - i).
        let weight = i32::from(p.weight);
        if weight < 0 {
            f.write_str("0")?;
        }
        for i in 0..=weight.max(-1) {
            let d = p.digit(i as usize);
            if i == 0 {
                write!(f, "{d}")?
            } else {
                write!(f, "{d:04}")?
            }
        }
        if p.scale > 0 {
            let mut fraction = String::with_capacity(p.scale + 4);
            let mut exponent = -1;
            while fraction.len() < p.scale {
                let i = weight - exponent;
                let d = if i < 0 { 0 } else { p.digit(i as usize) };
                fraction.push_str(&format!("{d:04}"));
                exponent -= 1;
            }
            write!(f, ".{}", &fraction[..p.scale])?;
        }
        Ok(())
    }
}

impl fmt::Debug for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Reads a numeric literal as PostgreSQL does: `-12.50`, `1.5e-3`, `NaN`, `Infinity`.
impl std::str::FromStr for Numeric {
    type Err = String;

    fn from_str(s: &str) -> Result<Numeric, String> {
        let bad = || format!("{s:?} is not a numeric literal");
        let text = s.trim();
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if unsigned.eq_ignore_ascii_case("nan") && unsigned.len() == text.len() {
            return Numeric::from_parts(0, NAN, 0, &[]);
        }
        if unsigned.eq_ignore_ascii_case("infinity") || unsigned.eq_ignore_ascii_case("inf") {
            // The server sends an infinity's display scale as 32 (bits of its short header).
            return Numeric::from_parts(0, if negative { MINUS_INFINITY } else { PLUS_INFINITY }, 32, &[]);
        }
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i32>().map_err(|_| bad())?),
            None => (unsigned, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.len() + frac.len() == 0 || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        // The decimal digits, and where the decimal point falls among them once the exponent moves it.
        let decimal: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        let point = int.len() as i64 + i64::from(exponent);
        let scale = (frac.len() as i64 - i64::from(exponent)).max(0) as usize;
        if scale > MAX_SCALE || point.abs() > 4 * i64::from(i16::MAX) {
            return Err(format!("{s:?} is out of numeric's range"));
        }
        // Base-10000 digits aligned on the decimal point: group g covers decimal positions
        // [point - 4 * (g + 1 - first), ...), so the first group starts a few positions early.
        let lead = (4 - point.rem_euclid(4)) % 4;
        let at = |i: i64| if i < 0 || i >= decimal.len() as i64 { 0 } else { u16::from(decimal[i as usize]) };
        let start = -lead;
        let mut digits = Vec::with_capacity(decimal.len() / 4 + 2);
        let mut i = start;
        while i < decimal.len() as i64 {
            digits.push(at(i) * 1000 + at(i + 1) * 100 + at(i + 2) * 10 + at(i + 3));
            i += 4;
        }
        let mut weight = (point + lead) / 4 - 1;
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        weight -= leading as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Numeric::from_parts(0, POSITIVE, scale, &[]);
        }
        let weight = i16::try_from(weight).map_err(|_| format!("{s:?} is out of numeric's range"))?;
        Numeric::from_parts(weight, if negative { NEGATIVE } else { POSITIVE }, scale, &digits)
    }
}

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Numeric::from_wire(raw)?)
    }

    accepts!(NUMERIC);
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_slice(self.as_wire());
        Ok(IsNull::No)
    }

    accepts!(NUMERIC);
    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let n: Numeric = text.parse().unwrap();
        let again = Numeric::from_wire(n.as_wire()).unwrap();
        assert_eq!(again, n);
        n.to_string()
    }

    #[test]
    fn literals_read_and_print_as_postgresql_does() {
        for (text, printed) in [
            ("0", "0"),
            ("-0", "0"),
            ("0.00", "0.00"),
            ("12.50", "12.50"),
            ("-12.50", "-12.50"),
            ("9999", "9999"),
            ("10000", "10000"),
            ("0.0001", "0.0001"),
            ("0.00001", "0.00001"),
            ("123456789.987654321", "123456789.987654321"),
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            ("+7", "7"),
            (".5", "0.5"),
            ("5.", "5"),
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-inf", "-Infinity"),
            (
                "-12345678901234567890123456789012345.000000000000000000001",
                "-12345678901234567890123456789012345.000000000000000000001",
            ),
        ] {
            assert_eq!(round_trip(text), printed, "{text}");
        }
        for bad in ["", "-", "1.2.3", "1e", "abc", "1 2", "-nan"] {
            assert!(bad.parse::<Numeric>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn small_values_need_no_allocation_and_large_ones_keep_every_digit() {
        assert!(matches!("1234567890123456789012345678".parse::<Numeric>().unwrap().0, Repr::Inline { .. }));
        let long = "1".repeat(200);
        let n: Numeric = long.parse().unwrap();
        assert!(matches!(n.0, Repr::Heap(_)));
        assert_eq!(n.to_string(), long);
    }

    #[test]
    fn malformed_binary_is_refused() {
        let twelve: Numeric = "12".parse().unwrap();
        let raw = twelve.as_wire();
        assert!(Numeric::from_wire(&raw[..raw.len() - 1]).is_err());
        assert!(Numeric::from_wire(&raw[..4]).is_err());
        let mut bad_sign = raw.to_vec();
        bad_sign[4] = 0x12;
        assert!(Numeric::from_wire(&bad_sign).is_err());
        let mut bad_digit = raw.to_vec();
        bad_digit[8..10].copy_from_slice(&10000u16.to_be_bytes());
        assert!(Numeric::from_wire(&bad_digit).is_err());
    }
}
