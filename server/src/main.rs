//! The `server` binary: see [`server::cli`] for its commands.

/// mimalloc instead of the system allocator: a request allocates and frees many small objects across the runtime's
/// threads, where glibc's malloc spent about a sixth of the server's CPU (`make bench`'s order creation, profiled).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    server::cli::main()
}
