//! Rust tokens for the generated crate: per table-direction a typed source row, a typed staged row,
//! the conversion between them, the SQL, and the `TableCodec` impl the runtime drives.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::model::{Direction, Mode, Model, Side, SideName, StagedValue, Strategy, TableDirection};
use crate::sql::deletes::DeleteSqlText;
use crate::sql::{self, Constraint, DirectCheckText, DirectLoadText, TableSqlText};
use crate::types::PgType;

/// A Rust identifier for a SQL name (raw identifier for keywords such as `type`).
fn field(name: &str) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, Span::call_site())
    } else {
        Ident::new_raw(name, Span::call_site())
    }
}

fn camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn type_name(t: &TableDirection, suffix: &str) -> Ident {
    let dir = match t.direction {
        Direction::Forward => "Forward",
        Direction::Reverse => "Reverse",
    };
    format_ident!("{}{}{}", camel(&t.table), dir, suffix)
}

fn static_name(t: &TableDirection) -> Ident {
    format_ident!("{}_{}", t.table.to_ascii_uppercase(), t.direction.as_str().to_ascii_uppercase())
}

fn value_type(ty: &PgType, nullable: bool) -> TokenStream {
    let inner = ty.rust_type();
    if nullable {
        quote!(Option<#inner>)
    } else {
        inner
    }
}

fn side_tokens(side: &Side) -> TokenStream {
    let side_kind = match side.side {
        SideName::Desktop => quote!(Side::Desktop),
        SideName::Cloud => quote!(Side::Cloud),
    };
    let name = &side.name;
    let columns = side.columns.iter().map(|c| {
        let (n, canonical, declared, nullable) = (&c.name, c.ty.canonical(), &c.declared, c.nullable);
        quote!(ColumnSpec { name: #n, sql_type: #canonical, declared_type: #declared, nullable: #nullable })
    });
    let touched = match &side.touched {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    };
    quote!(SideTable { side: #side_kind, name: #name, columns: &[#(#columns),*], touched: #touched })
}

/// A SQL statement as a raw string literal, so the generated file shows it as SQL: on its own
/// lines, and with its quoted identifiers unescaped.
fn sql_literal(sql: &str) -> TokenStream {
    let mut hashes = String::new();
    while sql.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{sql}\"{hashes}").parse().expect("a raw string literal is one token")
}

/// A typed Rust expression for a manifest constant (already checked against the type).
fn constant(ty: &PgType, value: &str) -> TokenStream {
    match ty {
        PgType::SmallInt | PgType::Integer | PgType::BigInt => {
            let lit: TokenStream = value.parse().unwrap_or_else(|_| quote!(0));
            let t = ty.rust_type();
            quote!(#lit as #t)
        }
        PgType::Boolean => {
            let b = value == "true";
            quote!(#b)
        }
        PgType::Real | PgType::Double => {
            let lit: TokenStream = value.parse().unwrap_or_else(|_| quote!(0.0));
            let t = ty.rust_type();
            quote!(#lit as #t)
        }
        PgType::Text | PgType::Varchar(_) | PgType::Char(_) => quote!(String::from(#value)),
        other => {
            let t = other.rust_type();
            quote!(#value.parse::<#t>().expect("constant checked when the manifest was compiled"))
        }
    }
}

/// The staged row's fields, how a source row converts into them, and the values staged per row.
struct StagedParts {
    fields: Vec<TokenStream>,
    convert: Vec<TokenStream>,
    values: Vec<TokenStream>,
}

fn staged_parts(t: &TableDirection) -> StagedParts {
    let mut parts = StagedParts { fields: Vec::new(), convert: Vec::new(), values: Vec::new() };
    for s in &t.staged {
        let f = field(&s.name);
        let ty = value_type(&s.ty, s.nullable);
        parts.fields.push(quote!(pub #f: #ty));
        parts.convert.push(match &s.value {
            StagedValue::Source { column, .. } => {
                let src = field(column);
                if t.tracking.as_deref() == Some(column.as_str()) {
                    quote!(#f: source.#src.clone())
                } else {
                    quote!(#f: source.#src)
                }
            }
            StagedValue::Constant(v) => {
                let c = constant(&s.ty, v);
                quote!(#f: #c)
            }
        });
        parts.values.push(quote!(&staged.#f));
    }
    if let Some(track) = &t.tracking {
        let nullable = t.source.column(track).map(|c| c.nullable).unwrap_or(true);
        let src = field(track);
        parts.fields.push(quote!(
            /// The source's tracking value, kept for newest-wins dedup and the watermark.
            pub _track: Option<::chrono::DateTime<::chrono::Utc>>
        ));
        parts.convert.push(if nullable { quote!(_track: source.#src) } else { quote!(_track: Some(source.#src)) });
        parts.values.push(quote!(&staged._track));
    }
    parts
}

/// An optional statement: `Some(r#"..."#)` or `None`.
fn opt_sql(s: Option<String>) -> TokenStream {
    match s {
        Some(s) => {
            let s = sql_literal(&s);
            quote!(Some(#s))
        }
        None => quote!(None),
    }
}

/// The `TableSql` of a table-direction, every statement a readable raw string.
fn table_sql_tokens(text: TableSqlText) -> TokenStream {
    let TableSqlText {
        read_full,
        read_incremental,
        probe_incremental,
        create_stage,
        copy_stage,
        dedup,
        checks,
        settle,
        prepare,
        prepared,
        apply,
        ledger,
        born_in_cloud,
        describe_rejects,
        verify_source,
        verify_target,
        deletes: _,
        direct: _,
    } = text;
    let read_incremental = opt_sql(read_incremental);
    let probe_incremental = opt_sql(probe_incremental);
    let dedup = opt_sql(dedup);
    let ledger = opt_sql(ledger);
    let settle = opt_sql(settle);
    let born_in_cloud = opt_sql(born_in_cloud);
    let [read_full, create_stage, copy_stage, describe_rejects, verify_source, verify_target] =
        [read_full, create_stage, copy_stage, describe_rejects, verify_source, verify_target].map(|s| sql_literal(&s));
    let [checks, prepare, apply] =
        [checks, prepare, apply].map(|v| v.iter().map(|s| sql_literal(s)).collect::<Vec<_>>());
    quote! {
        TableSql {
            read_full: #read_full,
            read_incremental: #read_incremental,
            probe_incremental: #probe_incremental,
            create_stage: #create_stage,
            copy_stage: #copy_stage,
            dedup: #dedup,
            checks: &[#(#checks),*],
            settle: #settle,
            prepare: &[#(#prepare),*],
            prepared: &[#(#prepared),*],
            apply: &[#(#apply),*],
            ledger: #ledger,
            born_in_cloud: #born_in_cloud,
            describe_rejects: #describe_rejects,
            verify_source: #verify_source,
            verify_target: #verify_target,
        }
    }
}

/// The `TableSpec` of a table-direction.
fn table_spec_tokens(t: &TableDirection) -> TokenStream {
    let name = &t.table;
    let direction = match t.direction {
        Direction::Forward => quote!(Direction::Forward),
        Direction::Reverse => quote!(Direction::Reverse),
    };
    let mode = match t.mode {
        Mode::Full => quote!(Mode::Full),
        Mode::Incremental => quote!(Mode::Incremental),
    };
    let strategy = match t.strategy {
        Strategy::Upsert => quote!(Strategy::Upsert),
        Strategy::ReplaceOrigin => quote!(Strategy::ReplaceOrigin),
        Strategy::InsertOnly => quote!(Strategy::InsertOnly),
    };
    let source_side = side_tokens(&t.source);
    let target_side = side_tokens(&t.target);
    let key = &t.key;
    let source_key = if t.key.is_empty() { Vec::new() } else { t.key_source_columns() };
    let tracking = match &t.tracking {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    };
    let references = &t.depends_on;
    let track_xmin = t.track_xmin;
    let desktop_owns = &t.desktop_owns;
    let read_types = t.read.iter().map(|c| c.ty.wire_type());
    let mut stage_types = vec![quote!(::pgbisync_runtime::wire::Type::INT8)];
    stage_types.extend(t.staged.iter().map(|s| s.ty.wire_type()));
    if t.tracking.is_some() {
        stage_types.push(quote!(::pgbisync_runtime::wire::Type::TIMESTAMPTZ));
    }
    let columns = sql::stage_columns(t);
    // As `sql::stage::dedup` has it: only a table with `dedup` and a key drops duplicates.
    let dedup_key: Vec<usize> = match t.dedup && !t.key.is_empty() {
        true => t.key.iter().filter_map(|k| columns.iter().position(|c| c == k)).collect(),
        false => Vec::new(),
    };
    let line = t.line as u32;
    let text = sql::table_sql(t);
    let deletes = delete_spec_tokens(t, text.deletes.clone());
    let direct = direct_load_tokens(text.direct.clone());
    let sql = table_sql_tokens(text);
    quote! {
        TableSpec {
            name: #name,
            direction: #direction,
            source: #source_side,
            target: #target_side,
            mode: #mode,
            strategy: #strategy,
            key: &[#(#key),*],
            source_key: &[#(#source_key),*],
            tracking: #tracking,
            track_xmin: #track_xmin,
            desktop_owns: &[#(#desktop_owns),*],
            references: &[#(#references),*],
            read_types: &[#(#read_types),*],
            stage_types: &[#(#stage_types),*],
            dedup_key: &[#(#dedup_key),*],
            manifest_line: #line,
            sql: #sql,
            deletes: #deletes,
            direct: #direct,
        }
    }
}

/// The `DirectLoad` of a table-direction whose first load may skip staging.
fn direct_load_tokens(text: Option<DirectLoadText>) -> TokenStream {
    let Some(DirectLoadText { copy, empty, checks, columns }) = text else { return quote!(None) };
    let [copy, empty] = [copy, empty].map(|s| sql_literal(&s));
    let checks = checks.iter().map(|DirectCheckText { sql, unless, lock }| {
        let sql = sql_literal(sql);
        let lock = opt_sql(lock.clone());
        let unless = match unless {
            Constraint::NotNull(column) => quote!(Constraint::NotNull(#column)),
            Constraint::UniqueKey => quote!(Constraint::UniqueKey),
            Constraint::ForeignKey { parent_table, pairs } => {
                let pairs = pairs.iter().map(|(c, p)| quote!((#c, #p)));
                quote!(Constraint::ForeignKey { parent_table: #parent_table, pairs: &[#(#pairs),*] })
            }
        };
        quote!(DirectCheck { sql: #sql, unless: #unless, lock: #lock })
    });
    quote! {
        Some(DirectLoad {
            copy: #copy,
            empty: #empty,
            checks: &[#(#checks),*],
            columns: #columns,
        })
    }
}

/// The `DeleteSpec` of a table-direction that propagates deletes.
fn delete_spec_tokens(t: &TableDirection, text: Option<DeleteSqlText>) -> TokenStream {
    let (Some(d), Some(text)) = (&t.deletes, text) else { return quote!(None) };
    let every = d.every_seconds;
    let [keys_source, keys_target, delete, restore] =
        [text.keys_source, text.keys_target, text.delete, text.restore].map(|s| sql_literal(&s));
    let gone_staged = opt_sql(text.gone_staged);
    let settling = match text.settling {
        Some(s) => {
            let [compare, gone, changed] = [s.compare, s.gone, s.changed].map(|s| sql_literal(&s));
            quote!(Some(SettlingSql { compare: #compare, gone: #gone, changed: #changed }))
        }
        None => quote!(None),
    };
    let held = opt_sql(text.held);
    let forget = opt_sql(text.forget);
    quote! {
        Some(DeleteSpec {
            every_seconds: #every,
            sql: DeleteSql {
                keys_source: #keys_source,
                keys_target: #keys_target,
                gone_staged: #gone_staged,
                settling: #settling,
                held: #held,
                delete: #delete,
                forget: #forget,
                restore: #restore,
            },
        })
    }
}

/// One table-direction: its typed source and staged rows, its spec, and its `TableCodec`.
fn table_direction(t: &TableDirection) -> TokenStream {
    let source_ty = type_name(t, "Source");
    let staged_ty = type_name(t, "Staged");
    let codec_ty = type_name(t, "");
    let spec_static = static_name(t);
    let doc_source = format!(" A row of `{}` as read from the {}.", t.source.name, t.source.side.as_str());
    let doc_staged = format!(" A row on its way into `{}` on the {}.", t.target.name, t.target.side.as_str());
    let doc_codec = format!(
        " `{}` {}: {} -> {}, {} mode, {}.",
        t.table,
        t.direction.as_str(),
        t.source.name,
        t.target.name,
        t.mode.as_str(),
        t.strategy.as_str()
    );
    let source_fields = t.read.iter().map(|c| {
        let f = field(&c.name);
        let ty = value_type(&c.ty, c.nullable);
        quote!(pub #f: #ty)
    });
    let decode_fields = t.read.iter().enumerate().map(|(i, c)| {
        let f = field(&c.name);
        let i = proc_macro2::Literal::usize_unsuffixed(i);
        quote!(#f: row.try_get(#i)?)
    });
    let StagedParts { fields: staged_fields, convert: convert_fields, values } = staged_parts(t);
    let count = proc_macro2::Literal::usize_unsuffixed(values.len() + 1);
    let spec = table_spec_tokens(t);

    quote! {
        #[doc = #doc_source]
        #[derive(Debug, Clone, PartialEq)]
        pub struct #source_ty { #(#source_fields,)* }

        #[doc = #doc_staged]
        #[derive(Debug, Clone, PartialEq)]
        pub struct #staged_ty { #(#staged_fields,)* }

        #[doc = #doc_codec]
        pub struct #codec_ty;

        pub static #spec_static: TableSpec = #spec;

        impl TableCodec for #codec_ty {
            type Source = #source_ty;
            type Staged = #staged_ty;

            fn spec() -> &'static TableSpec {
                &#spec_static
            }

            fn decode(row: &CopyRow) -> Result<Self::Source, DecodeError> {
                Ok(#source_ty { #(#decode_fields,)* })
            }

            fn convert(source: Self::Source) -> Self::Staged {
                #staged_ty { #(#convert_fields,)* }
            }

            fn stage_values<'a>(staged: &'a Self::Staged, row_number: &'a i64) -> Vec<&'a (dyn ToSql + Sync)> {
                let values: [&'a (dyn ToSql + Sync); #count] = [row_number, #(#values),*];
                values.to_vec()
            }
        }
    }
}

/// The whole generated file as formatted Rust.
pub fn generate(model: &Model, manifest_display: &str) -> String {
    let tables = model.directions.iter().map(table_direction);
    let entries = model.directions.iter().map(|t| {
        let codec = type_name(t, "");
        quote!(&Compiled::<#codec>::NEW)
    });
    let s = &model.settings;
    let (dk, ck) = (&s.desktop_url_env, &s.cloud_url_env);
    let (fm, rm, fr, rr) = (&s.forward_metadata, &s.reverse_metadata, &s.forward_rejects, &s.reverse_rejects);
    let (oc, od, ocl) = (&s.origin_column, &s.origin_desktop, &s.origin_cloud);
    let (created, updated) = (&s.created_column, &s.updated_column);
    let tenant = match &s.tenant {
        Some(t) => {
            let (c, e) = (&t.column, &t.env);
            quote!(Some(TenantSpec { column: #c, env: #e }))
        }
        None => quote!(None),
    };
    let lookback = s.lookback_seconds;
    let (fd, rd, rl) = (&s.forward_deleted, &s.reverse_deleted, &s.reverse_ledger);
    let (max_percent, min_rows) = (s.delete_guard.max_percent, s.delete_guard.min_rows);
    let schema = model.tables.iter().map(|t| {
        let name = &t.name;
        let desktop = sql_literal(&sql::side_ddl(&t.desktop, &s.origin_column, &s.origin_desktop));
        let cloud = sql_literal(&sql::side_ddl(&t.cloud, &s.origin_column, &s.origin_desktop));
        quote!(::pgbisync_runtime::program::TableSchema { name: #name, desktop_ddl: #desktop, cloud_ddl: #cloud })
    });
    let mut touch: Vec<String> = model
        .tables
        .iter()
        .flat_map(|t| [t.desktop.touched.clone(), t.cloud.touched.clone()])
        .flatten()
        .map(|c| sql::touch_function(&c))
        .collect();
    touch.sort();
    touch.dedup();
    let touch = touch.iter().map(|f| sql_literal(f));

    let file: syn::File = syn::parse_quote! {
        use ::pgbisync_runtime::codec::{Compiled, CompiledTable, TableCodec};
        use ::pgbisync_runtime::spec::*;
        use ::pgbisync_runtime::wire::{CopyRow, DecodeError, ToSql};

        /// Deployment-wide settings.
        pub static MANIFEST: ManifestSpec = ManifestSpec {
            path: #manifest_display,
            desktop_url_env: #dk,
            cloud_url_env: #ck,
            forward_metadata: #fm,
            reverse_metadata: #rm,
            forward_rejects: #fr,
            reverse_rejects: #rr,
            forward_deleted: #fd,
            reverse_deleted: #rd,
            reverse_ledger: #rl,
            origin_column: #oc,
            origin_desktop: #od,
            origin_cloud: #ocl,
            created_column: #created,
            updated_column: #updated,
            tenant: #tenant,
            lookback_seconds: #lookback,
            delete_guard: DeleteGuard { max_percent: #max_percent, min_rows: #min_rows },
        };

        #(#tables)*

        /// Every table-direction in sync order: forward (parents first), then reverse.
        pub static TABLES: &[&dyn CompiledTable] = &[#(#entries),*];

        /// DDL shaped like each table on each side (for `demo` and the tests).
        pub static SCHEMA: &[::pgbisync_runtime::program::TableSchema] = &[#(#schema),*];

        /// Trigger functions the DDL's triggers call.
        pub static SCHEMA_FUNCTIONS: &[&str] = &[#(#touch),*];
    };
    let header = format!(
        "// @generated by pgbisync-codegen from {manifest_display}.\n// Do not edit: change the manifest and run `cargo build`.\n\n"
    );
    header + &prettyplease::unparse(&file)
}
