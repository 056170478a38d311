fn main() {
    std::process::exit(pgbisync_runtime::cli::main(&pgbisync_generated::program()));
}
