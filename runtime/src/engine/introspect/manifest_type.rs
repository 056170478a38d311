//! A live column's type in the manifest's spelling: the inverse of the generator's
//! `PgType::canonical`, so a column declared with it compares equal in `check` and in the
//! schema check every run makes.

/// The manifest spelling of a `format_type()` text, or `None` when the manifest has no type for it
/// (uuid, arrays, enums, a `timestamp(3)` with its precision, ...).
pub fn manifest_type(format_type: &str) -> Option<String> {
    let plain = match format_type {
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" | "boolean" | "text" | "date"
        | "bytea" | "json" | "jsonb" => format_type,
        "character varying" => "varchar",
        "time without time zone" => "time",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        _ => return with_arguments(format_type),
    };
    Some(plain.to_string())
}

/// `numeric(p,s)`, `character varying(n)` and `character(n)`.
fn with_arguments(format_type: &str) -> Option<String> {
    let (base, rest) = format_type.split_once('(')?;
    let args: Vec<u32> = rest.strip_suffix(')')?.split(',').map(|a| a.trim().parse().ok()).collect::<Option<_>>()?;
    match (base, args.as_slice()) {
        // The manifest's numeric(p) means scale 0, as PostgreSQL's does.
        ("numeric", [p, 0]) => Some(format!("numeric({p})")),
        ("numeric", [p, s]) => Some(format!("numeric({p},{s})")),
        ("character varying", [n]) => Some(format!("varchar({n})")),
        ("character", [n]) => Some(format!("char({n})")),
        _ => None,
    }
}

/// The generating spelling of a numbered integer column (serial or identity) declared on one side
/// only: the manifest never writes it.
pub fn numbered_type(manifest_type: &str) -> Option<&'static str> {
    match manifest_type {
        "integer" => Some("serial"),
        "bigint" => Some("bigserial"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_type_texts_map_to_the_manifest_spelling() {
        for (live, manifest) in [
            ("numeric(3,0)", "numeric(3)"),
            ("numeric(12,2)", "numeric(12,2)"),
            ("numeric", "numeric"),
            ("character varying(100)", "varchar(100)"),
            ("character varying", "varchar"),
            ("character(1)", "char(1)"),
            ("timestamp with time zone", "timestamptz"),
            ("timestamp without time zone", "timestamp"),
            ("time without time zone", "time"),
            ("double precision", "double precision"),
            ("jsonb", "jsonb"),
        ] {
            assert_eq!(manifest_type(live).as_deref(), Some(manifest), "{live}");
        }
    }

    /// The generator reads each spelling back as the very type the server printed: a column
    /// declared with it compares equal in every schema check.
    #[test]
    fn every_manifest_type_round_trips_through_the_generator() {
        use pgbisync_codegen::types::PgType;
        for written in [
            "smallint",
            "integer",
            "bigint",
            "numeric",
            "numeric(3)",
            "numeric(12,2)",
            "real",
            "double precision",
            "boolean",
            "text",
            "varchar(15)",
            "varchar",
            "char(1)",
            "char(10)",
            "date",
            "time",
            "timestamp",
            "timestamptz",
            "bytea",
            "json",
            "jsonb",
        ] {
            let live = PgType::parse(written).expect("a manifest type").canonical();
            let spelled = manifest_type(&live).unwrap_or_else(|| panic!("{live} has no spelling"));
            assert_eq!(PgType::parse(&spelled).map(|t| t.canonical()), Some(live.clone()), "{written} -> {live}");
        }
        for (serial, live) in [("serial", "integer"), ("bigserial", "bigint")] {
            assert_eq!(numbered_type(live), Some(serial));
            assert_eq!(PgType::parse(serial).map(|t| t.canonical()).as_deref(), Some(live));
        }
    }

    #[test]
    fn types_the_manifest_cannot_express_are_none() {
        for live in [
            "uuid",
            "integer[]",
            "timestamp(3) with time zone",
            "time(0) without time zone",
            "money",
            "\"char\"",
            "bpchar",
        ] {
            assert_eq!(manifest_type(live), None, "{live}");
        }
    }
}
