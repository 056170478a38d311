//! PostgreSQL column types the manifest may name, and what each becomes: the canonical spelling
//! `format_type()` prints (to compare with a live database), the Rust type of a row field, and the
//! wire type the binary COPY codec uses.

use proc_macro2::TokenStream;
use quote::quote;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgType {
    SmallInt,
    Integer,
    BigInt,
    /// `serial`/`bigserial`: an integer the database generates; never written by the sync.
    Serial {
        big: bool,
    },
    Numeric {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Real,
    Double,
    Boolean,
    Text,
    Varchar(Option<u32>),
    Char(u32),
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Bytea,
    Jsonb,
    Json,
}

/// The type names accepted, for the "unknown type" message.
pub const KNOWN_TYPES: &str = "smallint, integer, bigint, serial, bigserial, numeric(p[,s]), real, \
double precision, boolean, text, varchar(n), char(n), date, time, timestamp, timestamptz, bytea, json, jsonb";

impl PgType {
    /// Parses a type as written in the manifest (case-insensitive, common aliases accepted).
    pub fn parse(text: &str) -> Option<PgType> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        let (base, args) = match t.find('(') {
            Some(open) => {
                let close = t.rfind(')')?;
                if close != t.len() - 1 || close < open {
                    return None;
                }
                let args: Option<Vec<u32>> =
                    t[open + 1..close].split(',').map(|a| a.trim().parse::<u32>().ok()).collect();
                (t[..open].trim().to_string(), Some(args?))
            }
            None => (t.clone(), None),
        };
        let one = |args: &Option<Vec<u32>>| match args.as_deref() {
            Some([n]) if *n > 0 => Some(Some(*n)),
            None => Some(None),
            _ => None,
        };
        let no_args = args.is_none();
        Some(match base.as_str() {
            "smallint" | "int2" if no_args => PgType::SmallInt,
            "integer" | "int" | "int4" if no_args => PgType::Integer,
            "bigint" | "int8" if no_args => PgType::BigInt,
            "serial" | "serial4" if no_args => PgType::Serial { big: false },
            "bigserial" | "serial8" if no_args => PgType::Serial { big: true },
            "numeric" | "decimal" => match args.as_deref() {
                None => PgType::Numeric { precision: None, scale: None },
                Some([p]) if (1..=1000).contains(p) => PgType::Numeric { precision: Some(*p), scale: Some(0) },
                Some([p, s]) if (1..=1000).contains(p) && s <= p => {
                    PgType::Numeric { precision: Some(*p), scale: Some(*s) }
                }
                _ => return None,
            },
            "real" | "float4" if no_args => PgType::Real,
            "double precision" | "float8" if no_args => PgType::Double,
            "boolean" | "bool" if no_args => PgType::Boolean,
            "text" if no_args => PgType::Text,
            "varchar" | "character varying" => PgType::Varchar(one(&args)?),
            "char" | "character" | "bpchar" => PgType::Char(one(&args)?.unwrap_or(1)),
            "date" if no_args => PgType::Date,
            "time" | "time without time zone" if no_args => PgType::Time,
            "timestamp" | "timestamp without time zone" if no_args => PgType::Timestamp,
            "timestamptz" | "timestamp with time zone" if no_args => PgType::Timestamptz,
            "bytea" if no_args => PgType::Bytea,
            "jsonb" if no_args => PgType::Jsonb,
            "json" if no_args => PgType::Json,
            _ => return None,
        })
    }

    /// The spelling `format_type(atttypid, atttypmod)` gives for a column of this type.
    pub fn canonical(&self) -> String {
        match self {
            PgType::SmallInt => "smallint".into(),
            PgType::Integer | PgType::Serial { big: false } => "integer".into(),
            PgType::BigInt | PgType::Serial { big: true } => "bigint".into(),
            PgType::Numeric { precision: Some(p), scale } => format!("numeric({},{})", p, scale.unwrap_or(0)),
            PgType::Numeric { .. } => "numeric".into(),
            PgType::Real => "real".into(),
            PgType::Double => "double precision".into(),
            PgType::Boolean => "boolean".into(),
            PgType::Text => "text".into(),
            PgType::Varchar(Some(n)) => format!("character varying({n})"),
            PgType::Varchar(None) => "character varying".into(),
            PgType::Char(n) => format!("character({n})"),
            PgType::Date => "date".into(),
            PgType::Time => "time without time zone".into(),
            PgType::Timestamp => "timestamp without time zone".into(),
            PgType::Timestamptz => "timestamp with time zone".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Json => "json".into(),
        }
    }

    /// The type to declare in DDL (serials keep their generating spelling).
    pub fn ddl(&self) -> String {
        match self {
            PgType::Serial { big: false } => "serial".into(),
            PgType::Serial { big: true } => "bigserial".into(),
            other => other.canonical(),
        }
    }

    /// True for types the database fills itself; the sync never writes them.
    pub fn is_generated(&self) -> bool {
        matches!(self, PgType::Serial { .. })
    }

    /// The Rust type of a non-null value.
    pub fn rust_type(&self) -> TokenStream {
        match self {
            PgType::SmallInt => quote!(i16),
            PgType::Integer | PgType::Serial { big: false } => quote!(i32),
            PgType::BigInt | PgType::Serial { big: true } => quote!(i64),
            // The server's binary form, carried as is: any precision, NaN, and 12.50 stays 12.50.
            PgType::Numeric { .. } => quote!(::pgbisync_runtime::wire::Numeric),
            PgType::Real => quote!(f32),
            PgType::Double => quote!(f64),
            PgType::Boolean => quote!(bool),
            PgType::Text | PgType::Varchar(_) | PgType::Char(_) => quote!(String),
            PgType::Date => quote!(::chrono::NaiveDate),
            // A newtype over NaiveTime that keeps 24:00:00 (postgres-types would wrap it to 00:00).
            PgType::Time => quote!(::pgbisync_runtime::wire::PgTime),
            PgType::Timestamp => quote!(::chrono::NaiveDateTime),
            PgType::Timestamptz => quote!(::chrono::DateTime<::chrono::Utc>),
            PgType::Bytea => quote!(Vec<u8>),
            // Kept as the server's text: a parsed value would rewrite numbers (2.50 -> 2.5).
            PgType::Jsonb | PgType::Json => quote!(::pgbisync_runtime::wire::RawJson),
        }
    }

    /// The `postgres_types::Type` constant naming the wire type.
    pub fn wire_type(&self) -> TokenStream {
        let name = match self {
            PgType::SmallInt => quote!(INT2),
            PgType::Integer | PgType::Serial { big: false } => quote!(INT4),
            PgType::BigInt | PgType::Serial { big: true } => quote!(INT8),
            PgType::Numeric { .. } => quote!(NUMERIC),
            PgType::Real => quote!(FLOAT4),
            PgType::Double => quote!(FLOAT8),
            PgType::Boolean => quote!(BOOL),
            PgType::Text => quote!(TEXT),
            PgType::Varchar(_) => quote!(VARCHAR),
            PgType::Char(_) => quote!(BPCHAR),
            PgType::Date => quote!(DATE),
            PgType::Time => quote!(TIME),
            PgType::Timestamp => quote!(TIMESTAMP),
            PgType::Timestamptz => quote!(TIMESTAMPTZ),
            PgType::Bytea => quote!(BYTEA),
            PgType::Jsonb => quote!(JSONB),
            PgType::Json => quote!(JSON),
        };
        quote!(::pgbisync_runtime::wire::Type::#name)
    }

    /// Checks that a manifest constant is a valid value of this type, so a bad constant fails the build.
    pub fn check_constant(&self, value: &str) -> Result<(), String> {
        use std::str::FromStr;
        let ok = match self {
            PgType::SmallInt => value.parse::<i16>().is_ok(),
            PgType::Integer => value.parse::<i32>().is_ok(),
            PgType::BigInt => value.parse::<i64>().is_ok(),
            PgType::Serial { .. } => false,
            PgType::Numeric { precision, scale } => match rust_decimal::Decimal::from_str(value) {
                Ok(d) => {
                    let digits_left = d.trunc().abs().to_string().trim_start_matches('0').len() as u32;
                    match (precision, scale) {
                        (Some(p), Some(s)) => digits_left <= p - s && d.scale() <= *s,
                        _ => true,
                    }
                }
                Err(_) => false,
            },
            PgType::Real | PgType::Double => value.parse::<f64>().is_ok(),
            PgType::Boolean => matches!(value, "true" | "false"),
            PgType::Text => true,
            PgType::Varchar(limit) => limit.is_none_or(|n| value.chars().count() as u32 <= n),
            PgType::Char(n) => value.chars().count() as u32 <= *n,
            PgType::Date => chrono::NaiveDate::from_str(value).is_ok(),
            PgType::Time => value == "24:00:00" || chrono::NaiveTime::from_str(value).is_ok(),
            PgType::Timestamp => chrono::NaiveDateTime::from_str(value).is_ok(),
            PgType::Timestamptz => chrono::DateTime::<chrono::FixedOffset>::parse_from_rfc3339(value).is_ok(),
            PgType::Bytea | PgType::Jsonb | PgType::Json => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("`{value}` is not a valid {} constant", self.canonical()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each accepted spelling maps to the `format_type()` text PostgreSQL prints for it, its Rust
    /// type and its wire type: a wrong entry here would make `check` report false differences or
    /// decode values into the wrong type.
    #[test]
    fn every_type_maps_to_format_type_rust_and_wire() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("smallint", "smallint", "i16", "INT2"),
            ("int2", "smallint", "i16", "INT2"),
            ("integer", "integer", "i32", "INT4"),
            ("int", "integer", "i32", "INT4"),
            ("bigint", "bigint", "i64", "INT8"),
            ("serial", "integer", "i32", "INT4"),
            ("bigserial", "bigint", "i64", "INT8"),
            ("numeric", "numeric", ":: pgbisync_runtime :: wire :: Numeric", "NUMERIC"),
            ("numeric(3)", "numeric(3,0)", ":: pgbisync_runtime :: wire :: Numeric", "NUMERIC"),
            ("NUMERIC(8, 2)", "numeric(8,2)", ":: pgbisync_runtime :: wire :: Numeric", "NUMERIC"),
            ("decimal(10,4)", "numeric(10,4)", ":: pgbisync_runtime :: wire :: Numeric", "NUMERIC"),
            ("real", "real", "f32", "FLOAT4"),
            ("double precision", "double precision", "f64", "FLOAT8"),
            ("boolean", "boolean", "bool", "BOOL"),
            ("text", "text", "String", "TEXT"),
            ("varchar(100)", "character varying(100)", "String", "VARCHAR"),
            ("character varying(15)", "character varying(15)", "String", "VARCHAR"),
            ("varchar", "character varying", "String", "VARCHAR"),
            ("char(1)", "character(1)", "String", "BPCHAR"),
            ("char", "character(1)", "String", "BPCHAR"),
            ("date", "date", ":: chrono :: NaiveDate", "DATE"),
            ("time", "time without time zone", ":: pgbisync_runtime :: wire :: PgTime", "TIME"),
            ("timestamp", "timestamp without time zone", ":: chrono :: NaiveDateTime", "TIMESTAMP"),
            ("timestamptz", "timestamp with time zone", ":: chrono :: DateTime < :: chrono :: Utc >", "TIMESTAMPTZ"),
            (
                "timestamp with time zone",
                "timestamp with time zone",
                ":: chrono :: DateTime < :: chrono :: Utc >",
                "TIMESTAMPTZ",
            ),
            ("bytea", "bytea", "Vec < u8 >", "BYTEA"),
            ("jsonb", "jsonb", ":: pgbisync_runtime :: wire :: RawJson", "JSONB"),
            ("json", "json", ":: pgbisync_runtime :: wire :: RawJson", "JSON"),
        ];
        for (written, canonical, rust, wire) in cases {
            let ty = PgType::parse(written).unwrap_or_else(|| panic!("{written} should parse"));
            assert_eq!(ty.canonical(), *canonical, "format_type of {written}");
            assert_eq!(ty.rust_type().to_string(), *rust, "rust type of {written}");
            assert!(ty.wire_type().to_string().ends_with(wire), "wire type of {written}: {}", ty.wire_type());
        }
    }

    #[test]
    fn unknown_or_malformed_types_are_rejected() {
        for bad in ["varchr(10)", "numeric(3", "numeric(2,5)", "varchar(0)", "integer(4)", "money", ""] {
            assert_eq!(PgType::parse(bad), None, "{bad} should not parse");
        }
    }

    #[test]
    fn constants_are_checked_against_their_column_type() {
        assert!(PgType::parse("char(1)").unwrap().check_constant("D").is_ok());
        assert!(PgType::parse("char(1)").unwrap().check_constant("DD").is_err());
        assert!(PgType::parse("numeric(3)").unwrap().check_constant("999").is_ok());
        assert!(PgType::parse("numeric(3)").unwrap().check_constant("1000").is_err());
        assert!(PgType::parse("numeric(8,2)").unwrap().check_constant("12.50").is_ok());
        assert!(PgType::parse("integer").unwrap().check_constant("abc").is_err());
        assert!(PgType::parse("date").unwrap().check_constant("2024-02-29").is_ok());
    }
}
