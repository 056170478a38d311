//! The seam between generated code and the engine: a generated table decodes its typed source row,
//! converts it to the staged (target-shaped) row with the manifest's mapping rules, and hands the
//! staged values to the COPY writer. The engine owns the streaming loop.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{CopyInSink, CopyOutStream};

use crate::distinct_keys::DistinctKeys;
use crate::spec::TableSpec;
use crate::wire::binary_copy::{CopyReader, CopyWriter, EncodeError, ReadError};
use crate::wire::{CopyRow, DecodeError};

/// Rows between progress updates: often enough for a terminal, rare enough to cost nothing.
const PROGRESS_EVERY: i64 = 16_384;

/// Implemented by the generator for every table-direction.
pub trait TableCodec: Send + Sync + 'static {
    /// The typed row as read from the source.
    type Source: Send;
    /// The typed row as written to staging: target columns the source provides, plus the tracking value.
    type Staged: Send + Sync;

    fn spec() -> &'static TableSpec;

    fn decode(row: &CopyRow) -> Result<Self::Source, DecodeError>;

    fn convert(source: Self::Source) -> Self::Staged;

    /// The staged row's values in staging-column order, after the row number `_n`.
    fn stage_values<'a>(staged: &'a Self::Staged, row_number: &'a i64) -> Vec<&'a (dyn ToSql + Sync)>;
}

/// What streaming one table's rows into staging did.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferStats {
    pub rows: u64,
    /// No two rows share the key the table's dedup partitions by, proven as they streamed: the
    /// dedup has nothing to drop. False when not proven (see `distinct_keys`).
    pub keys_distinct: bool,
}

/// The object-safe face of a compiled table, so the engine can hold all tables in one list.
pub trait CompiledTable: Send + Sync {
    fn spec(&self) -> &'static TableSpec;

    /// Streams rows from the source COPY into the staging COPY, decoding and converting each one;
    /// `progress` hears the rows staged so far, every few thousand rows.
    /// Memory stays bounded: one row is held at a time, and both sides apply backpressure.
    fn transfer<'a>(
        &'a self,
        source: CopyOutStream,
        target: CopyInSink<Bytes>,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<TransferStats, TransferError>>;

    /// Streams rows from the source COPY straight into the target table's COPY: the staged values
    /// without the row number and the tracking value, then `origin` for the origin column.
    fn load<'a>(
        &'a self,
        source: CopyOutStream,
        target: CopyInSink<Bytes>,
        origin: &'a str,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<TransferStats, TransferError>>;
}

/// What each row's COPY data holds.
#[derive(Clone, Copy)]
enum Layout<'a> {
    /// Staging's: the row number, the staged values, the tracking value.
    Staged,
    /// The target's own columns: the first `columns` staged values, then the origin.
    Target { columns: usize, origin: &'a str },
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("reading row {row} from the source: {source}")]
    Decode {
        row: u64,
        #[source]
        source: DecodeError,
    },
    #[error("writing row {row} to the target: {source}")]
    Encode {
        row: u64,
        #[source]
        source: EncodeError,
    },
    #[error("reading rows from the source: {0}")]
    Read(#[source] tokio_postgres::Error),
    #[error("writing rows to the target: {0}")]
    Write(#[source] tokio_postgres::Error),
}

/// The engine's implementation of [`CompiledTable`] for every generated codec.
pub struct Compiled<C: TableCodec>(std::marker::PhantomData<fn() -> C>);

impl<C: TableCodec> Compiled<C> {
    pub const NEW: Self = Compiled(std::marker::PhantomData);
}

impl<C: TableCodec> CompiledTable for Compiled<C> {
    fn spec(&self) -> &'static TableSpec {
        C::spec()
    }

    fn transfer<'a>(
        &'a self,
        source: CopyOutStream,
        target: CopyInSink<Bytes>,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<TransferStats, TransferError>> {
        Box::pin(pump::<C>(source, target, C::spec().stage_types.to_vec(), Layout::Staged, progress))
    }

    fn load<'a>(
        &'a self,
        source: CopyOutStream,
        target: CopyInSink<Bytes>,
        origin: &'a str,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<TransferStats, TransferError>> {
        let spec = C::spec();
        let columns = spec.direct.map_or(0, |d| d.columns);
        // The origin is text-like on every target (binary text, varchar and char data are the same bytes).
        let mut types = spec.stage_types[1..=columns].to_vec();
        types.push(Type::TEXT);
        Box::pin(pump::<C>(source, target, types, Layout::Target { columns, origin }, progress))
    }
}

/// The streaming loop: decode, convert, write, one row held at a time.
async fn pump<C: TableCodec>(
    source: CopyOutStream,
    target: CopyInSink<Bytes>,
    types: Vec<Type>,
    layout: Layout<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<TransferStats, TransferError> {
    let mut rows = CopyReader::new(source, C::spec().read_types);
    let mut keys = match layout {
        Layout::Staged => DistinctKeys::new(C::spec().dedup_key, &types),
        Layout::Target { .. } => None,
    };
    let mut writer = CopyWriter::new(target, types);
    let mut n: i64 = 0;
    loop {
        let row = match rows.next().await {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(ReadError::Stream(e)) => return Err(TransferError::Read(e)),
            Err(ReadError::Decode(e)) => return Err(TransferError::Decode { row: n as u64 + 1, source: e }),
        };
        n += 1;
        if n % PROGRESS_EVERY == 0 {
            progress(n as u64);
        }
        let source = C::decode(row).map_err(|e| TransferError::Decode { row: n as u64, source: e })?;
        let staged = C::convert(source);
        let values = C::stage_values(&staged, &n);
        let written = match layout {
            Layout::Staged => writer.write(&values),
            Layout::Target { columns, origin } => {
                let mut values = values[1..=columns].to_vec();
                values.push(&origin);
                writer.write(&values)
            }
        };
        written.map_err(|source| TransferError::Encode { row: n as u64, source })?;
        if let Some(keys) = keys.as_mut() {
            keys.add(writer.rows());
        }
        writer.send_when_full().await.map_err(TransferError::Write)?;
    }
    writer.finish().await.map_err(TransferError::Write)?;
    Ok(TransferStats { rows: n as u64, keys_distinct: keys.is_some_and(DistinctKeys::all_distinct) })
}
