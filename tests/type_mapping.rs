//! Every PostgreSQL type the manifest accepts, against a real server: the spelling the generator
//! compares live columns with is exactly what `format_type()` prints, and a value decoded into the
//! generated Rust type and written back with binary COPY arrives unchanged.

mod support;

use futures_util::pin_mut;
use pgbisync_codegen::types::PgType;
use pgbisync_runtime::wire::{Numeric, PgTime, RawJson};
use support::*;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// (declared type, a literal value, the wire type the generator emits)
const CASES: &[(&str, &str, Type)] = &[
    ("smallint", "-32768", Type::INT2),
    ("integer", "2147483647", Type::INT4),
    ("bigint", "-9223372036854775808", Type::INT8),
    ("numeric(8,2)", "12.50", Type::NUMERIC),
    ("numeric(10)", "9999999999", Type::NUMERIC),
    ("numeric", "0.000123400", Type::NUMERIC),
    // Past rust_decimal's 28 digits, and the values that are not numbers.
    ("numeric", "-12345678901234567890123456789012345.000000000000000000001", Type::NUMERIC),
    ("numeric", "NaN", Type::NUMERIC),
    ("numeric", "-Infinity", Type::NUMERIC),
    ("numeric", "Infinity", Type::NUMERIC),
    ("real", "1.5", Type::FLOAT4),
    ("double precision", "-2.25e-10", Type::FLOAT8),
    ("boolean", "true", Type::BOOL),
    ("text", "Añjali — தமிழ் 😀", Type::TEXT),
    ("varchar(15)", "", Type::VARCHAR),
    ("char(4)", "ab", Type::BPCHAR),
    ("date", "2024-02-29", Type::DATE),
    ("time", "24:00:00", Type::TIME),
    ("timestamp", "2024-03-31 23:59:59.999999", Type::TIMESTAMP),
    ("timestamptz", "2024-03-31 18:45:00+05:30", Type::TIMESTAMPTZ),
    ("bytea", "\\x00ff10", Type::BYTEA),
    ("jsonb", "{\"a\": [1, 2.50, null]}", Type::JSONB),
    ("json", "{\"b\":  1.0e2 }", Type::JSON),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_manifest_type_matches_format_type_and_round_trips_through_its_rust_type() {
    let pair = Pair::empty().await;
    // The desktop server runs in Asia/Kolkata: timestamps must not shift on the way.
    let db = pair.desktop_client().await;
    let columns: Vec<String> = CASES.iter().enumerate().map(|(i, (ty, _, _))| format!("c{i} {ty}")).collect();
    db.batch_execute(&format!("CREATE TABLE src ({0}); CREATE TABLE dst ({0});", columns.join(", "))).await.unwrap();
    let literals: Vec<String> =
        CASES.iter().map(|(ty, v, _)| format!("CAST('{}' AS {ty})", v.replace('\'', "''"))).collect();
    db.batch_execute(&format!("INSERT INTO src VALUES ({})", literals.join(", "))).await.unwrap();

    for (i, (declared, _, wire)) in CASES.iter().enumerate() {
        let ty = PgType::parse(declared).unwrap();
        let live: String = scalar(&db, &format!("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'src'::regclass AND attname = 'c{i}'")).await;
        assert_eq!(ty.canonical(), live, "format_type of {declared}");
        assert!(
            ty.wire_type().to_string().ends_with(wire.name().to_ascii_uppercase().as_str()),
            "{declared}: wire type {}",
            ty.wire_type()
        );
    }

    // Decode each value into the Rust type the generator uses for it, then COPY it back in binary.
    let row = db.query_one("SELECT * FROM src", &[]).await.unwrap();
    let values: Vec<Box<dyn ToSql + Sync + Send>> = vec![
        Box::new(row.get::<_, i16>(0)),
        Box::new(row.get::<_, i32>(1)),
        Box::new(row.get::<_, i64>(2)),
        Box::new(row.get::<_, Numeric>(3)),
        Box::new(row.get::<_, Numeric>(4)),
        Box::new(row.get::<_, Numeric>(5)),
        Box::new(row.get::<_, Numeric>(6)),
        Box::new(row.get::<_, Numeric>(7)),
        Box::new(row.get::<_, Numeric>(8)),
        Box::new(row.get::<_, Numeric>(9)),
        Box::new(row.get::<_, f32>(10)),
        Box::new(row.get::<_, f64>(11)),
        Box::new(row.get::<_, bool>(12)),
        Box::new(row.get::<_, String>(13)),
        Box::new(row.get::<_, String>(14)),
        Box::new(row.get::<_, String>(15)),
        Box::new(row.get::<_, chrono::NaiveDate>(16)),
        Box::new(row.get::<_, PgTime>(17)),
        Box::new(row.get::<_, chrono::NaiveDateTime>(18)),
        Box::new(row.get::<_, chrono::DateTime<chrono::Utc>>(19)),
        Box::new(row.get::<_, Vec<u8>>(20)),
        Box::new(row.get::<_, RawJson>(21)),
        Box::new(row.get::<_, RawJson>(22)),
    ];
    assert_eq!(values.len(), CASES.len());
    let types: Vec<Type> = CASES.iter().map(|(_, _, t)| t.clone()).collect();
    let sink = db.copy_in("COPY dst FROM STDIN (FORMAT binary)").await.unwrap();
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
    writer.as_mut().write(&refs).await.unwrap();
    writer.finish().await.unwrap();

    for (i, (declared, _, _)) in CASES.iter().enumerate() {
        let (a, b): (String, String) = {
            let r = db.query_one(&format!("SELECT s.c{i}::text, d.c{i}::text FROM src s, dst d"), &[]).await.unwrap();
            (r.get(0), r.get(1))
        };
        assert_eq!(a, b, "{declared} changed on its way through Rust");
    }
    // A numeric prints as the server prints it, and a manifest constant reads to the server's own bytes.
    for (i, (declared, literal, ty)) in CASES.iter().enumerate().filter(|(_, c)| c.2 == Type::NUMERIC) {
        let r = db.query_one(&format!("SELECT c{i}, c{i}::text FROM src"), &[]).await.unwrap();
        let (value, text): (Numeric, String) = (r.get(0), r.get(1));
        assert_eq!(value.to_string(), text, "{declared} {literal} ({ty})");
        assert_eq!(literal.parse::<Numeric>().unwrap().as_wire(), value.as_wire(), "{declared} {literal}");
    }
    let padded: i32 = scalar(&db, "SELECT octet_length(c15) FROM dst").await;
    assert_eq!(padded, 4, "char(4) keeps its padding");
}

/// Numerics of every shape the server holds (long integers, deep fractions, trailing zeros, huge
/// and tiny magnitudes, both signs, the special values), read into the Rust type the generator
/// uses, printed, read back from that text, and written back with binary COPY: all exactly as the
/// server has them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numerics_of_every_shape_round_trip_exactly() {
    let pair = Pair::empty().await;
    let db = pair.desktop_client().await;
    db.batch_execute(
        "CREATE TABLE src (n int, v numeric); CREATE TABLE dst (n int, v numeric); \
         INSERT INTO src \
         SELECT g, CASE g % 8 \
             WHEN 0 THEN (repeat('9', g % 45 + 1))::numeric \
             WHEN 1 THEN ('-' || (g * 7919)::text || repeat('0', g % 13))::numeric \
             WHEN 2 THEN ('0.' || repeat('0', g % 17) || (g * 37 % 10000)::text)::numeric \
             WHEN 3 THEN round((random() * 10 ^ (g % 25))::numeric, g % 11) \
             WHEN 4 THEN ((g % 1000)::text || '.' || rpad((g * 13)::text, g % 9 + 1, '0'))::numeric \
             WHEN 5 THEN ('-0.' || repeat('0', g % 5) || repeat('5', g % 33 + 1))::numeric \
             WHEN 6 THEN ('1e' || (g % 300 - 150)::text)::numeric \
             ELSE (ARRAY['NaN', 'Infinity', '-Infinity', '0', '-0.000', '10000', '0.0001', '12.50'])[g / 8 % 8 + 1]::numeric \
         END FROM generate_series(0, 1999) g",
    )
    .await
    .unwrap();
    let rows = db.query("SELECT n, v, v::text FROM src ORDER BY n", &[]).await.unwrap();
    let mut values = Vec::new();
    for row in &rows {
        let (n, value, text): (i32, Numeric, String) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(value.to_string(), text, "row {n} prints as the server prints it");
        assert_eq!(
            text.parse::<Numeric>().unwrap().as_wire(),
            value.as_wire(),
            "row {n}: {text} reads to the server's bytes"
        );
        values.push((n, value));
    }
    let sink = db.copy_in("COPY dst FROM STDIN (FORMAT binary)").await.unwrap();
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::NUMERIC]);
    pin_mut!(writer);
    for (n, value) in &values {
        writer.as_mut().write(&[n as &(dyn ToSql + Sync), value]).await.unwrap();
    }
    writer.finish().await.unwrap();
    let differ: i64 =
        scalar(&db, "SELECT count(*) FROM src FULL JOIN dst USING (n) WHERE src.v::text IS DISTINCT FROM dst.v::text")
            .await;
    assert_eq!(differ, 0, "every numeric arrives exactly as it left");
}
