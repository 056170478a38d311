//! The tenant value, checked once against its column's type before anything connects. A value the
//! column would silently round or truncate selects another firm: `1.5` for a `numeric(3)` column
//! became 2, and the run exited 0 having synced firm 2's rows.

/// Why `value` cannot be stored unchanged in a column of `sql_type` (as `format_type` prints it), or
/// `None` when it can. Types without a way to round or truncate a value are left to the server.
pub fn misfit(value: &str, sql_type: &str) -> Option<String> {
    let (base, modifiers) = match sql_type.split_once('(') {
        Some((base, rest)) => (base.trim(), rest.trim_end_matches(')').split(',').map(str::trim).collect::<Vec<_>>()),
        None => (sql_type.trim(), Vec::new()),
    };
    let number = |i: usize| modifiers.get(i).and_then(|m| m.parse::<u32>().ok());
    match base {
        "smallint" => integer(value, i16::MIN as i128, i16::MAX as i128, base),
        "integer" => integer(value, i32::MIN as i128, i32::MAX as i128, base),
        "bigint" => integer(value, i64::MIN as i128, i64::MAX as i128, base),
        "numeric" => decimal(value, number(0), number(1).unwrap_or(0)),
        "character varying" | "character" => match number(0) {
            Some(n) if value.chars().count() > n as usize => {
                Some(format!("it is longer than the column's {n} characters, so it would be cut"))
            }
            _ => None,
        },
        _ => None,
    }
}

fn integer(value: &str, min: i128, max: i128, type_name: &str) -> Option<String> {
    if !is_integer_text(value) {
        return Some("it is not an integer".into());
    }
    match value.parse::<i128>() {
        Ok(n) if (min..=max).contains(&n) => None,
        _ => Some(format!("it is out of range for {type_name} ({min} to {max})")),
    }
}

/// A `numeric(precision, scale)` value (unconstrained when `precision` is `None`).
fn decimal(value: &str, precision: Option<u32>, scale: u32) -> Option<String> {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || (unsigned.contains('.') && fraction.is_empty()) {
        return Some(if scale == 0 { "it is not an integer".into() } else { "it is not a number".into() });
    }
    let precision = precision?;
    if fraction.len() > scale as usize {
        return Some(if scale == 0 {
            "it is not an integer, and the column would round it to another value".into()
        } else {
            format!("it has more than {scale} decimal places, and the column would round it to another value")
        });
    }
    let whole_digits = whole.trim_start_matches('0').len();
    let room = precision.saturating_sub(scale) as usize;
    (whole_digits > room).then(|| {
        format!(
            "it has more than {room} digit(s) before the decimal point, the most numeric({precision},{scale}) holds"
        )
    })
}

fn is_integer_text(value: &str) -> bool {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    !unsigned.is_empty() && unsigned.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::misfit;

    #[test]
    fn values_a_numeric_3_column_would_change_or_refuse_are_caught() {
        for bad in ["1.5", "abc", "1000", "", "1.", "-", "1e2", "0x1"] {
            assert!(misfit(bad, "numeric(3,0)").is_some(), "{bad:?}");
        }
        for good in ["1", "999", "-999", "007"] {
            assert_eq!(misfit(good, "numeric(3,0)"), None, "{good:?}");
        }
    }

    #[test]
    fn integers_scaled_numerics_and_text_have_their_own_limits() {
        assert!(misfit("40000", "smallint").is_some());
        assert!(misfit("2.0", "integer").is_some());
        assert_eq!(misfit("-32768", "smallint"), None);
        assert_eq!(misfit("12.25", "numeric(5,2)"), None);
        assert!(misfit("12.255", "numeric(5,2)").is_some());
        assert!(misfit("1234.5", "numeric(5,2)").is_some());
        assert_eq!(misfit("123456789.123", "numeric"), None);
        assert!(misfit("abcd", "character varying(3)").is_some());
        assert_eq!(misfit("abc", "character(3)"), None);
        assert_eq!(misfit("anything", "text"), None);
    }
}
