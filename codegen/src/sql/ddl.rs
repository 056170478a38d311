//! DDL shaped like a deployment's tables, for `demo` and the tests.

use super::fragment::{ident, idents, literal};
use super::names::{TOUCH_FUNCTION_PREFIX, TOUCH_TRIGGER_SUFFIX};
use crate::model::{Side, SideName};

/// DDL for one side of a table as the manifest describes it: used by `demo` and the tests to build
/// databases shaped like a deployment. The desktop side has no keys (like the legacy database);
/// the cloud side has its primary key and the origin column.
pub fn side_ddl(side: &Side, origin_column: &str, origin_default: &str) -> String {
    let mut cols: Vec<String> = side
        .columns
        .iter()
        .map(|c| {
            let mut d = format!("{} {}", ident(&c.name), c.ty.ddl());
            if !c.nullable && !c.ty.is_generated() {
                d.push_str(" NOT NULL");
            }
            if side.bookkeeping.contains(&c.name) {
                d.push_str(" DEFAULT now()");
            }
            if c.name == origin_column && side.side == SideName::Cloud {
                d.push_str(&format!(" DEFAULT {}", literal(origin_default)));
            }
            d
        })
        .collect();
    if side.side == SideName::Cloud && !side.key.is_empty() {
        cols.push(format!("PRIMARY KEY ({})", idents(&side.key)));
    }
    let mut ddl = format!(
        r#"CREATE TABLE {name} (
    {cols}
);"#,
        name = ident(&side.name),
        cols = cols.join(",\n    ")
    );
    if let Some(touched) = &side.touched {
        ddl.push_str(&format!(
            r#"
CREATE TRIGGER {trigger} BEFORE UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();"#,
            trigger = ident(&format!("{}{TOUCH_TRIGGER_SUFFIX}", side.name)),
            table = ident(&side.name),
            function = ident(&format!("{TOUCH_FUNCTION_PREFIX}{touched}"))
        ));
    }
    ddl
}

/// The trigger function the DDL's triggers call, one per bookkeeping column name.
pub fn touch_function(column: &str) -> String {
    format!(
        r#"CREATE OR REPLACE FUNCTION {name}()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.{col} := now();
    RETURN NEW;
END $$;"#,
        name = ident(&format!("{TOUCH_FUNCTION_PREFIX}{column}")),
        col = ident(column)
    )
}
