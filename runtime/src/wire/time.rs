//! PostgreSQL `time`, including `24:00:00`.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use chrono::{NaiveTime, Timelike};
use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, ToSql, Type};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A PostgreSQL `time`: chrono's `NaiveTime`, plus `24:00:00`, which PostgreSQL accepts and
/// chrono represents as the leap second `23:59:60`. (postgres-types would decode `24:00:00` as
/// `00:00:00`, silently.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PgTime(pub NaiveTime);

impl PgTime {
    fn from_micros(micros: i64) -> Option<PgTime> {
        if micros == MICROS_PER_DAY {
            return NaiveTime::from_hms_micro_opt(23, 59, 59, 1_000_000).map(PgTime);
        }
        let secs = u32::try_from(micros.checked_div(1_000_000)?).ok()?;
        let nanos = u32::try_from(micros % 1_000_000).ok()? * 1000;
        NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos).map(PgTime)
    }

    fn micros(self) -> i64 {
        let t = self.0;
        if t.nanosecond() >= 1_000_000_000 {
            return MICROS_PER_DAY;
        }
        i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1000)
    }
}

impl std::str::FromStr for PgTime {
    type Err = chrono::ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "24:00:00" || s.trim() == "24:00" {
            return Ok(PgTime::from_micros(MICROS_PER_DAY).expect("24:00:00 is representable"));
        }
        s.parse().map(PgTime)
    }
}

impl std::fmt::Display for PgTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.micros() == MICROS_PER_DAY {
            f.write_str("24:00:00")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl<'a> FromSql<'a> for PgTime {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into().map_err(|_| "invalid length for a time value")?;
        let micros = i64::from_be_bytes(bytes);
        PgTime::from_micros(micros).ok_or_else(|| format!("time value {micros} microseconds is out of range").into())
    }

    accepts!(TIME);
}

impl ToSql for PgTime {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(self.micros());
        Ok(IsNull::No)
    }

    accepts!(TIME);
    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_including_24_00() {
        for micros in [0, 1, 27_930_500_000, MICROS_PER_DAY - 1, MICROS_PER_DAY] {
            let t = PgTime::from_micros(micros).unwrap();
            assert_eq!(t.micros(), micros);
            let mut out = BytesMut::new();
            t.to_sql(&Type::TIME, &mut out).unwrap();
            assert_eq!(PgTime::from_sql(&Type::TIME, &out).unwrap(), t);
        }
        assert_eq!("24:00:00".parse::<PgTime>().unwrap().to_string(), "24:00:00");
        assert_eq!("07:45:30.5".parse::<PgTime>().unwrap().to_string(), "07:45:30.500");
        assert!(PgTime::from_micros(MICROS_PER_DAY + 1).is_none());
    }
}
