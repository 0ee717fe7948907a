//! The command line: `Cli` and the shared `ConnectArgs`; one module per subcommand.
