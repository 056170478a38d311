//! The `pgbisync` command line. The generated crate's `main` hands its compiled program to [`main`].
//! Each command is a file here; they call the engine and print only through [`output`].

mod args;
mod bootstrap;
mod check;
mod codegen;
mod demo;
mod doctor;
mod error;
mod introspect;
mod logging;
mod monitor;
mod on_failure;
mod output;
mod reset;
mod restore;
mod run;
mod schedule;
mod schema;
mod signal;
mod status;
mod sync;
mod tables;
mod trigger;
mod verify;

pub use logging::init_logging;
pub use sync::exit_code;

use clap::Parser;

use crate::config::{self, ConfigError, ConnectionUrl};
use crate::engine::metadata::Scope;
use crate::engine::Connections;
use crate::program::Program;
use crate::spec::{Direction, Side};
use args::{Cli, Command};
use error::CommandError;
use output::Output;

/// Exit codes (SPEC 9).
pub mod exit {
    /// Every requested table synced.
    pub const OK: i32 = 0;
    /// At least one table failed or was partial; the others synced.
    pub const PARTIAL: i32 = 1;
    /// Usage or configuration error.
    pub const USAGE: i32 = 2;
    /// Cannot connect, or another run holds the lock.
    pub const UNAVAILABLE: i32 = 3;
}

/// Runs the CLI; returns the process exit code.
pub fn main(program: &Program) -> i32 {
    main_with_args(program, std::env::args_os())
}

/// Runs the CLI with the given arguments (the first is the program name); returns the exit code.
pub fn main_with_args<I, T>(program: &Program, args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return code;
        }
    };
    logging::init(cli.log_format, cli.verbose, cli.quiet);
    let out = Output { json: cli.json, quiet: cli.quiet, log_json: cli.log_format == args::LogFormat::Json };
    if let Err(e) = config::load_dotenv(cli.env_file.as_deref()) {
        let e = CommandError::Config(e);
        out.failed(&e, e.exit_code());
        return e.exit_code();
    }
    let invocation =
        Invocation { program, desktop_url: cli.desktop_url.clone(), cloud_url: cli.cloud_url.clone(), out };
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)
        .and_then(|runtime| runtime.block_on(dispatch(&invocation, &cli.command)));
    match result {
        Ok(code) => code,
        Err(e) => {
            invocation.out.failed(&e, e.exit_code());
            e.exit_code()
        }
    }
}

/// Runs one command; its exit code when it ran (0, or 1 for partial results and differences).
async fn dispatch(inv: &Invocation<'_>, command: &Command) -> Result<i32, CommandError> {
    match command {
        Command::Tables => Ok(tables::run(inv)),
        Command::Codegen => Ok(codegen::run(inv)),
        Command::Verify { tables } => verify::run(inv, tables).await,
        Command::Forward(args) => sync::run(inv, &[Direction::Forward], args).await,
        Command::Reverse(args) => sync::run(inv, &[Direction::Reverse], args).await,
        Command::Run(args) => run::run(inv, args).await,
        Command::Status => status::run(inv).await,
        Command::Trigger => trigger::run(inv).await,
        Command::Check => check::run(inv).await,
        Command::Doctor => doctor::run(inv).await,
        Command::Bootstrap => bootstrap::run(inv).await,
        Command::Reset { direction, tables } => reset::run(inv, *direction, tables).await,
        Command::Restore { table, keys, since } => restore::run(inv, table, keys, *since).await,
        Command::Schema(args) => schema::run(inv, args),
        Command::Introspect(args) => introspect::run(inv, &args.desktop, &args.cloud).await,
        Command::Demo(args) => demo::run(inv, args.rows).await,
    }
}

/// What every command is given: the compiled program, the URL flags and how to print.
struct Invocation<'a> {
    program: &'a Program,
    desktop_url: Option<String>,
    cloud_url: Option<String>,
    out: Output,
}

impl Invocation<'_> {
    /// A side's URL: its flag, else the environment the manifest names.
    fn url(&self, side: Side) -> Result<ConnectionUrl, ConfigError> {
        let flag = match side {
            Side::Desktop => self.desktop_url.as_deref(),
            Side::Cloud => self.cloud_url.as_deref(),
        };
        config::url(self.program.manifest, side, flag)
    }

    /// The tenant value, checked against its column's type (none without a tenant scope).
    fn tenant(&self) -> Result<Option<String>, ConfigError> {
        config::tenant(self.program, None)
    }

    /// Whose metadata and rejects rows the command reads and writes.
    fn scope(&self) -> Result<Scope, ConfigError> {
        Ok(Scope::of(self.tenant()?.as_deref()))
    }

    async fn open(&self) -> Result<Connections, CommandError> {
        let desktop = self.url(Side::Desktop)?;
        let cloud = self.url(Side::Cloud)?;
        Ok(Connections::open(desktop, cloud).await?)
    }

    /// Every compiled table name of a direction, in sync order.
    fn table_names(&self, direction: Direction, only: &[String]) -> Vec<&'static str> {
        self.program.tables(direction, only).iter().map(|t| t.spec().name).collect()
    }
}
