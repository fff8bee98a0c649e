//! The `server` binary: see [`server::cli`] for its commands.

/// mimalloc instead of the system allocator: a request allocates and frees many small objects across the runtime's
/// threads, where glibc's malloc spent about a sixth of the server's CPU (`make bench`'s order creation, profiled).
///
/// Built without transparent huge pages (the crate's `no_thp`): memory it takes back from the kernel after sockets
/// closed was faulted in again 2 MiB at a time, and zeroing those pages was a fifth of the server's CPU while ten
/// thousand sockets reconnected (`perf`, `make bench`'s reconnect storm).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    server::cli::main()
}
