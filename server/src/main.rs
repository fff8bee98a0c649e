//! The `server` binary: see [`server::cli`] for its commands.

fn main() -> std::process::ExitCode {
    server::cli::main()
}
