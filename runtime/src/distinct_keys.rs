//! Whether a batch's keys are all distinct, seen as its rows stream into staging. The newest-wins
//! dedup is a hash aggregate over every staged key (1M keys: about 1 s on the server) that finds
//! nothing in most batches; a batch proven free of duplicate keys skips it.
//!
//! Each row's key is hashed to 64 bits from the bytes it is sent as, normalized so that keys the
//! staging table holds equal hash equal. Hashes all distinct prove the keys distinct; two equal (a
//! duplicate, or a 1-in-2^64 chance) leave the answer to the server's dedup, as before. Any doubt
//! does the same: a key type whose equality is not its bytes (a float's -0 and 0, a timestamp that
//! a column's precision rounds), a fractional numeric (a column's scale may round two apart into
//! one), more keys than the memory allowed.

use std::hash::{DefaultHasher, Hasher};

use tokio_postgres::types::Type;

use crate::wire::binary_copy::RowEncoder;

/// Past this many keys (8 bytes each: 32 MB) the batch is left to the server's dedup, so memory
/// stays bounded whatever the batch's size.
const MAX_KEYS: usize = 4_000_000;

/// The key hashes of one batch so far.
pub(crate) struct DistinctKeys {
    /// Each key column's place in the staged values, and its type.
    columns: Vec<(usize, Type)>,
    hashes: Vec<u64>,
    /// A key could not be hashed faithfully, or there were too many: no proof.
    undecided: bool,
}

impl DistinctKeys {
    /// For a batch staged as `types`, deduplicated on the columns at `key` (none: nothing to prove).
    pub(crate) fn new(key: &[usize], types: &[Type]) -> Option<DistinctKeys> {
        let columns: Vec<(usize, Type)> =
            key.iter().map(|&i| Some((i, types.get(i)?.clone()))).collect::<Option<_>>()?;
        (!columns.is_empty()).then(|| DistinctKeys { columns, hashes: Vec::new(), undecided: false })
    }

    /// Hashes the key of the row `rows` encoded last.
    pub(crate) fn add(&mut self, rows: &RowEncoder) {
        if self.undecided {
            return;
        }
        if self.hashes.len() == MAX_KEYS {
            self.give_up();
            return;
        }
        let mut hasher = DefaultHasher::new();
        for (i, ty) in &self.columns {
            match rows.field(*i) {
                None => hasher.write_u8(0),
                Some(bytes) => {
                    hasher.write_u8(1);
                    if !hash_value(ty, bytes, &mut hasher) {
                        return self.give_up();
                    }
                }
            }
        }
        self.hashes.push(hasher.finish());
    }

    /// Whether every key added differs from every other.
    pub(crate) fn all_distinct(mut self) -> bool {
        if self.undecided {
            return false;
        }
        self.hashes.sort_unstable();
        !self.hashes.windows(2).any(|w| w[0] == w[1])
    }

    fn give_up(&mut self) {
        self.undecided = true;
        self.hashes = Vec::new();
    }
}

/// Hashes what decides a binary value's equality in staging, where that is its bytes up to a
/// normalization: text without its trailing spaces (`char(n)` ignores them; trimming them from
/// other text only makes two keys look alike, which costs the proof, never a duplicate), an
/// integral numeric without its display scale. False for any other value: no proof.
fn hash_value(ty: &Type, bytes: &[u8], hasher: &mut DefaultHasher) -> bool {
    let part = |hasher: &mut DefaultHasher, part: &[u8]| {
        hasher.write_usize(part.len());
        hasher.write(part);
    };
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::DATE | Type::UUID | Type::BOOL => part(hasher, bytes),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            let end = bytes.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
            part(hasher, &bytes[..end]);
        }
        Type::NUMERIC => match integral_numeric(bytes) {
            Some((sign, weight, digits)) => {
                hasher.write_u16(sign);
                hasher.write_i16(weight);
                part(hasher, digits);
            }
            None => return false,
        },
        _ => return false,
    }
    true
}

/// An integral numeric as its sign, weight and base-10000 digits without leading or trailing
/// zeros (the digit count and display scale dropped: 5 and 5.00 are one key); `None` for a
/// fraction, NaN or an infinity. Zero is no digits, whatever its header says.
fn integral_numeric(bytes: &[u8]) -> Option<(u16, i16, &[u8])> {
    const HEADER: usize = 8;
    let word = |i: usize| bytes.get(2 * i..2 * i + 2).map(|w| u16::from_be_bytes([w[0], w[1]]));
    let (count, weight, sign) = (word(0)? as usize, word(1)? as i16, word(2)?);
    if bytes.len() != HEADER + 2 * count || !(sign == 0x0000 || sign == 0x4000) {
        return None;
    }
    let zero = |i: &usize| bytes[HEADER + 2 * i..HEADER + 2 * i + 2] == [0, 0];
    let Some(first) = (0..count).find(|i| !zero(i)) else { return Some((0, 0, &[])) };
    let last = (0..count).rev().find(|i| !zero(i))?;
    // Digit i stands for 10000^(weight - i): a nonzero one below 10000^0 is a fraction.
    if last as i32 > weight as i32 {
        return None;
    }
    Some((sign, weight - first as i16, &bytes[HEADER + 2 * first..HEADER + 2 * last + 2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Numeric;
    use tokio_postgres::types::ToSql;

    /// Whether `keys` (one value per row, staged after the row number) were proven distinct.
    fn proven(ty: Type, keys: &[&(dyn ToSql + Sync)]) -> bool {
        let mut distinct = DistinctKeys::new(&[1], &[Type::INT8, ty.clone()]).expect("a key to check");
        let mut rows = RowEncoder::new(vec![Type::INT8, ty]);
        for (n, key) in keys.iter().enumerate() {
            let n = n as i64;
            rows.encode(&[&n, *key]).expect("a value of the key's type");
            distinct.add(&rows);
        }
        distinct.all_distinct()
    }

    /// A numeric from its binary header (digit count from `digits`, weight, sign, display scale).
    fn numeric(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Numeric {
        let mut raw = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, scale].into_iter().chain(digits.iter().copied()) {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        Numeric::from_wire(&raw).expect("a valid numeric")
    }

    #[test]
    fn distinct_integers_are_proven_distinct_and_one_repeat_is_not() {
        assert!(proven(Type::INT8, &[&1i64, &2i64, &3i64]));
        assert!(!proven(Type::INT8, &[&1i64, &2i64, &1i64]));
    }

    #[test]
    fn numerics_equal_in_value_are_one_key_whatever_their_scale_or_zeros() {
        let five = numeric(0, 0, 0, &[5]);
        let five_and_zeros = numeric(0, 0, 2, &[5]);
        let five_trailing_digit = numeric(0, 0, 4, &[5, 0]);
        let five_leading_digit = numeric(1, 0, 0, &[0, 5]);
        for other in [&five_and_zeros, &five_trailing_digit, &five_leading_digit] {
            assert!(!proven(Type::NUMERIC, &[&five, other]), "5 and {other:?} are one key");
        }
        let (zero, zero_scaled) = (numeric(0, 0, 0, &[]), numeric(3, 0, 2, &[0]));
        assert!(!proven(Type::NUMERIC, &[&zero, &zero_scaled]), "zero is zero");
        let minus_five = numeric(0, 0x4000, 0, &[5]);
        let ten_thousand_five = numeric(1, 0, 0, &[1, 5]);
        assert!(proven(Type::NUMERIC, &[&five, &minus_five, &ten_thousand_five, &numeric(1, 0, 0, &[5])]));
    }

    #[test]
    fn a_fraction_or_a_float_key_is_left_to_the_server() {
        // 5.5 and 5.6 differ, but a column of scale 0 would round both to 6.
        let (a, b) = (numeric(0, 0, 1, &[5, 5000]), numeric(0, 0, 1, &[5, 6000]));
        assert!(!proven(Type::NUMERIC, &[&a, &b]));
        assert!(!proven(Type::FLOAT8, &[&1.0f64, &2.0f64]));
    }

    #[test]
    fn text_keys_that_differ_only_in_trailing_spaces_are_one_key() {
        assert!(!proven(Type::BPCHAR, &[&"A", &"A  "]));
        assert!(proven(Type::VARCHAR, &[&"A", &"B", &" A"]));
    }

    #[test]
    fn two_null_keys_are_not_proven_distinct() {
        assert!(!proven(Type::INT4, &[&None::<i32>, &None::<i32>]));
        assert!(proven(Type::INT4, &[&None::<i32>, &Some(1i32)]));
    }

    #[test]
    fn a_composite_key_hashes_its_parts_apart() {
        let types = [Type::INT8, Type::TEXT, Type::TEXT];
        let mut distinct = DistinctKeys::new(&[1, 2], &types).expect("a key");
        let mut rows = RowEncoder::new(types.to_vec());
        for row in [[&1i64 as &(dyn ToSql + Sync), &"ab", &"c"], [&2i64, &"a", &"bc"]] {
            rows.encode(&row).expect("encodable");
            distinct.add(&rows);
        }
        assert!(distinct.all_distinct(), "(ab, c) and (a, bc) are two keys");
    }

    #[test]
    fn a_table_without_a_dedup_key_has_nothing_to_prove() {
        assert!(DistinctKeys::new(&[], &[Type::INT8]).is_none());
    }
}
